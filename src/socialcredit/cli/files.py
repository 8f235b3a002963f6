"""Evaluation and the file: score, subject show, check, consent, objections, audit, demo."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from socialcredit.cli.base import (
    cli,
    day_option,
    err,
    need_one,
    out,
    pass_ctx,
    progress_bar,
    to_date,
    who,
)

# -- evaluation ----------------------------------------------------------------------------


@cli.command()
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb")
@day_option()
@pass_ctx
def score(ctx, engine, as_of):
    """Rescore everyone, update lists and the decision index, send notices."""
    from socialcredit.scoring import score_population

    with progress_bar() as bar:
        task = bar.add_task("score", total=None)
        summary = score_population(
            ctx.store,
            as_of,
            engine,
            progress=lambda step: bar.update(task, description=f"score: {step}"),
        )
    ctx.emit(summary, _print_summary)


def _print_summary(s):
    out.print(
        f"{s['subjects']:,} subjects scored on {s['as_of']} ({s['engine']}, {s['seconds']} s)"
    )
    t = Table()
    t.add_column("grade")
    t.add_column("people", justify="right")
    for g, n in s["by_grade"].items():
        t.add_row(g, f"{n:,}")
    out.print(t)
    t = Table(title="lists")
    for c in ("list", "pending", "active", "suspended"):
        t.add_column(c, justify="right" if c != "list" else "left")
    for name, counts in s["lists"].items():
        t.add_row(name, *(f"{counts[k]:,}" for k in ("pending", "active", "suspended")))
    out.print(t)


@cli.group()
def subject():
    """A subject's file."""


@subject.command("show")
@who
@day_option()
@click.option("--known-at", default=None, callback=to_date, help="use only what was known then")
@pass_ctx
def subject_show(ctx, national_id, subject_id, as_of, known_at):
    """The whole file: score, grade, contributions, lists, notices, who checked."""
    from socialcredit.subjects import show

    need_one(national_id, subject_id)
    data = show(ctx.store, as_of, national_id=national_id, subject_id=subject_id, known_at=known_at)
    ctx.emit(data, _print_file)


def _print_file(d):
    out.print(
        f"[bold]{d['subject_id']}[/bold] ({d['national_id']}) on {d['as_of']}, "
        f"rulebook {d['rulebook']['id']} v{d['rulebook']['version']}"
    )
    out.print(f"score {d['score']}  grade [bold]{d['grade']}[/bold]")
    t = Table(title="records")
    for c in ("record", "type", "occurred", "rule", "points", "counts"):
        t.add_column(c)
    for r in sorted(d["records"], key=lambda r: (r["occurred_at"], r["source"], r["record_id"])):
        t.add_row(
            f"{r['source']}:{r['record_id']}",
            r["type"],
            r["occurred_at"],
            r["rule"] or "",
            f"{r['points']:+g}",
            "yes" if r["counts"] else "no",
        )
    out.print(t)
    for e in d["lists"]:
        out.print(
            f"list {e['list']}: {e['state']} since {e['since']} until {e['until'] or 'open'}"
            f" (cause {', '.join(e['cause']) or 'grade'})"
        )
    for n in d["notices"]:
        out.print(f"notice {n['date']} {n['kind']}: {n['text']}")
    for c in d["checks"]:
        out.print(f"{c['purpose']} by {c['by']} ({c['role']}) at {c['at']} {c.get('service', '')}")


@cli.command()
@click.option("--service", required=True)
@who
@day_option()
@pass_ctx
def check(ctx, service, national_id, subject_id, as_of):
    """A decision as a provider gets it: never a score, grade or record."""
    from socialcredit.subjects import check as run_check

    need_one(national_id, subject_id)
    data = run_check(ctx.store, service, as_of, national_id=national_id, subject_id=subject_id)
    ctx.emit(
        data,
        lambda d: click.echo(
            f"{d['decision']} at {d['service']} on {d['as_of']}"
            + "".join(
                f"\n  {r['list']} since {r['since']} until {r['until'] or 'open'}"
                f" — {r['legal_basis']}"
                for r in d["reasons"]
            )
        ),
    )


@cli.group()
def consent():
    """Consent to scoring or to one source."""


def _consent(action):
    @click.option("--national-id", required=True)
    @click.option("--source", default=None, help="one source (absent: scoring itself)")
    @day_option()
    @pass_ctx
    def command(ctx, national_id, source, as_of):
        from socialcredit.subjects import set_consent

        data = set_consent(ctx.store, national_id, action, as_of, source)
        ctx.emit(data, lambda d: click.echo(f"consent {action} recorded on {d['on']}"))

    command.__doc__ = f"{action.capitalize()} consent."
    return consent.command(action)(command)


_consent("grant")
_consent("revoke")


@cli.group()
def objection():
    """The dispute workflow."""


@objection.command("file")
@click.option("--record", "target", default=None, help="SOURCE:RECORD_ID")
@click.option("--entry", default=None, help="LIST_ID or LIST_ID:START (with the subject)")
@click.option("--reason", required=True)
@click.option("--link", "link", is_flag=True,
              help="the record is not this person's: object to its identity link")  # fmt: skip
@who
@day_option()
@pass_ctx
def objection_file(ctx, target, entry, reason, link, national_id, subject_id, as_of):
    """Object to a record (or with --link, to its link) or to a list entry; restrict
    entries it caused (or the entry) are suspended meanwhile."""
    from socialcredit.objections import file_objection
    from socialcredit.subjects import resolve

    if (target is None) == (entry is None):
        raise click.UsageError("give exactly one of --record or --entry")
    sid = None
    if national_id or subject_id:
        sid = resolve(ctx.store, national_id, subject_id)[0]
        if sid is None:
            raise click.UsageError(f"no file for national id {national_id}")
    if entry is not None:
        need_one(national_id, subject_id)
        data = file_objection(ctx.store, entry, reason, as_of, subject_id=sid, kind="entry")
    else:
        kind = "link" if link else "record"
        data = file_objection(ctx.store, target, reason, as_of, subject_id=sid, kind=kind)
    ctx.emit(data, lambda d: click.echo(f"{d['objection_id']} open, deadline {d['deadline']}"))


@objection.command("decide")
@click.argument("objection_id")
@click.option("--outcome", type=click.Choice(["accepted", "rejected"]), required=True)
@click.option("--note", required=True)
@day_option()
@pass_ctx
def objection_decide(ctx, objection_id, outcome, note, as_of):
    """Decide an objection (an official), with a note."""
    from socialcredit.objections import decide_objection

    data = decide_objection(ctx.store, objection_id, outcome, note, as_of)
    ctx.emit(data, lambda d: click.echo(f"{d['objection_id']} {d['state']}"))


@cli.group()
def audit():
    """The tamper-evident log."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx):
    """Check every link of the log; non-zero exit at the first broken one."""
    data = ctx.store.verify_audit()
    ctx.emit(
        data,
        lambda d: click.echo(
            f"ok: {d['entries']} entries"
            if d["ok"]
            else f"broken at {d['broken_at']}: {d['reason']}"
        ),
    )
    sys.exit(0 if data["ok"] else 1)


@cli.command()
@click.option("--residents", default=100_000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--no-serve", is_flag=True, help="print the results and exit")
@day_option()
@pass_ctx
def demo(ctx, residents, seed, no_serve, as_of):
    """Build a synthetic city in an empty store, run the whole pipeline, show the results."""
    from socialcredit.demo import build

    with progress_bar() as bar:
        summary = build(ctx.store, residents, seed, as_of, bar)
    ctx.emit(
        summary,
        lambda s: (
            _print_summary(s),
            click.echo(
                "\nTry: socialcredit subject show --national-id " + s["sample_national_ids"][0]
            ),
        ),
    )
    if not no_serve:
        from socialcredit.demo import demo_tokens
        from socialcredit.service.server import serve

        store = ctx.store
        tokens = demo_tokens(store, as_of)
        err.print("\nDemo API tokens (also offered on the console's demo page):")
        for t in tokens.values():
            err.print(f"  {t['label']}: {t['token']}", soft_wrap=True)  # one line, to copy
        err.print(
            "Serving the console on http://127.0.0.1:8000/console/demo and the API beside it "
            "(OpenAPI at /openapi.json). Ctrl-C stops it."
        )
        serve(store, "127.0.0.1", 8000)
