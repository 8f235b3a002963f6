"""Due-process verbs: appeals against rejected objections, credit repair, notice delivery."""

from __future__ import annotations

import click

from socialcredit.cli.base import cli, day_option, need_one, pass_ctx, who
from socialcredit.cli.files import objection


def _subject(ctx, national_id, subject_id) -> str:
    from socialcredit.subjects import resolve

    need_one(national_id, subject_id)
    sid = resolve(ctx.store, national_id, subject_id)[0]
    if sid is None:
        raise click.UsageError(f"no file for national id {national_id}")
    return sid


@objection.command("appeal")
@click.argument("objection_id")
@click.option("--reason", required=True)
@day_option()
@pass_ctx
def objection_appeal(ctx, objection_id, reason, as_of):
    """Appeal a rejected objection to a senior official, within the appeal window."""
    from socialcredit.objections import appeal_objection

    data = appeal_objection(ctx.store, objection_id, reason, as_of)
    ctx.emit(data, lambda d: click.echo(f"appeal of {objection_id} open, deadline {d['deadline']}"))


@objection.command("decide-appeal")
@click.argument("objection_id")
@click.option("--outcome", type=click.Choice(["accepted", "rejected"]), required=True)
@click.option("--note", required=True)
@click.option("--by", required=True, help="the senior official deciding (not the first one)")
@day_option()
@pass_ctx
def objection_decide_appeal(ctx, objection_id, outcome, note, by, as_of):
    """Decide an appeal, as a senior official other than the one who rejected."""
    from socialcredit.objections import decide_appeal

    data = decide_appeal(ctx.store, objection_id, outcome, note, as_of, by=by)
    ctx.emit(data, lambda d: click.echo(f"appeal of {objection_id} {d['appeal']}"))


@cli.group()
def repair():
    """Credit repair: end a list entry early once the conduct is corrected."""


@repair.command("apply")
@click.option("--entry", required=True, help="LIST_ID or LIST_ID:START")
@click.option("--reason", required=True, help="how the conduct was corrected")
@who
@day_option()
@pass_ctx
def repair_apply(ctx, entry, reason, national_id, subject_id, as_of):
    """Apply for repair of one entry (from the list's min_period on)."""
    from socialcredit.repair import apply

    data = apply(ctx.store, _subject(ctx, national_id, subject_id), entry, reason, as_of)
    ctx.emit(data, lambda d: click.echo(f"{d['repair_id']} open for {d['list']}:{d['start']}"))


@repair.command("decide")
@click.argument("repair_id")
@click.option("--outcome", type=click.Choice(["approved", "refused"]), required=True)
@click.option("--note", required=True)
@day_option()
@pass_ctx
def repair_decide(ctx, repair_id, outcome, note, as_of):
    """Approve (the entry ends that day) or refuse a repair, with a note."""
    from socialcredit.repair import decide

    data = decide(ctx.store, repair_id, outcome, note, as_of)
    ctx.emit(data, lambda d: click.echo(f"{d['repair_id']} {d['state']}"))


@cli.group()
def notices():
    """Deliver the notices owed to subjects."""


@notices.command("send")
@day_option()
@pass_ctx
def notices_send(ctx, as_of):
    """Resolve objections past their deadline, then send every notice due (SMTP)."""
    from socialcredit.objections import resolve_due
    from socialcredit.outbox import Smtp, send_due

    channel = Smtp.from_env()
    lapsed = resolve_due(ctx.store, as_of)
    data = {"resolved_at_deadline": lapsed, **send_due(ctx.store, channel)}
    ctx.emit(data, lambda d: click.echo(", ".join(f"{k}: {v}" for k, v in d.items())))
