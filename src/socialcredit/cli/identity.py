"""Identity resolution: link, review, show, judge."""

from __future__ import annotations

import click
from rich.table import Table

from socialcredit.cli.base import (
    Ctx,
    cli,
    day_option,
    out,
    pass_ctx,
    progress_bar,
)

# -- identity (issue 3) -------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--retrain", is_flag=True, help="train a new model version first")
@click.option("--relink", is_flag=True, help="re-decide the model's earlier links too")
@click.option(
    "--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
    help="what scores the pairs: DuckDB, or Splink's Spark backend (local mode, Java 17+)",
)  # fmt: skip
@day_option(help="the day the linkage happens (default: today)")
@click.pass_context
def link(click_ctx, retrain, relink, engine, as_of):
    """Resolve identities of records without a valid national id."""
    if click_ctx.invoked_subcommand is not None:
        return
    from socialcredit.identity import link_batch, model, spark

    # the same stored model either way; on Spark, applied by Splink's Spark backend
    predict = spark.predict_table if engine == "spark" else model.predict_table
    ctx = click_ctx.find_object(Ctx)
    with progress_bar() as bar:
        bar.add_task("link", total=None)
        report = link_batch(ctx.store, as_of, retrain=retrain, relink=relink, predict=predict)
    ctx.emit(report.to_json(), _print_link)


def _print_link(d):
    click.echo(
        f"model v{d['model_version']}, threshold {d['threshold']}: {d['considered']} considered, "
        f"{d['linked']} linked, {d['review']} to review, {d['unmatched']} without candidate, "
        f"{d['confirmed']} confirmed by an official, {d['waiting']} waiting for a model"
    )
    for p in d["problems"][:20]:
        where = f"{p['source']}:{p['record_id']}: " if p["source"] else ""
        click.echo(f"  {where}{p['problem']}")
    if len(d["problems"]) > 20:
        click.echo(f"  ... and {len(d['problems']) - 20} more (--json lists them all)")


@link.command("review")
@click.option("--no-unmatched", is_flag=True, help="leave out records without any candidate")
@pass_ctx
def link_review(ctx, no_unmatched):
    """The review queue: records linked below min_link_confidence, or to no one."""
    from socialcredit.identity import review_queue

    rows = review_queue(ctx.store, include_unmatched=not no_unmatched)

    def human(rows):
        if not rows:
            click.echo("the review queue is empty")
            return
        t = Table(title=f"{len(rows)} records waiting for an official")
        for c in ("record", "state", "best candidate", "probability", "confidence"):
            t.add_column(c, justify="right" if c in ("probability", "confidence") else "left")
        for r in rows:
            t.add_row(
                f"{r['source']}:{r['record_id']}", r["state"], r["subject_id"] or "—",
                "—" if r["match_probability"] is None else f"{r['match_probability']:.4f}",
                "—" if r["confidence"] is None else f"{r['confidence']:.4f}",
            )  # fmt: skip
        out.print(t)

    ctx.emit(rows, human)


@link.command("show")
@click.option("--record", "target", required=True, help="SOURCE:RECORD_ID")
@pass_ctx
def link_show(ctx, target):
    """Why a record was linked (or not): comparison levels and their match weights."""
    from socialcredit.identity import explanation
    from socialcredit.objections import parse_target

    source, record_id = parse_target(target)
    found = explanation(ctx.store, source, record_id)
    if found is None:
        raise click.UsageError(f"{target} has not been through linkage — run socialcredit link")

    def human(d):
        why = d["explanation"]
        click.echo(
            f"{target}: {d['state']} -> {d['subject_id'] or 'no one'} "
            f"(probability {d['match_probability']}, confidence {d['confidence']}, "
            f"model v{d['model_version']}, {d['linked_on']})"
        )
        if "prior_weight" in why:
            click.echo(f"  prior weight {why['prior_weight']:+.2f}")
        for c in why.get("comparisons", []):
            click.echo(
                f"  {c['comparison']:<11} {c['match_weight']:+7.2f}  {c['level']}  "
                f"({c['record']!r} / {c['subject']!r})"
            )
        if "match_weight" in why:
            click.echo(f"  total       {why['match_weight']:+7.2f}")
        for sid in why.get("excluded_by_judgement", []):
            click.echo(f"  kept apart from {sid} by an official's judgement")

    ctx.emit(found, human)


@link.command("judge")
@click.option("--record", "target", required=True, help="SOURCE:RECORD_ID")
@click.option("--subject", "subject_id", required=True)
@click.option("--same/--different", required=True, help="same person, or different people")
@click.option("--official", default="official", help="who decides (goes to the audit log)")
@click.option("--note", default=None)
@day_option(help="the day of the judgement (default: today)")
@pass_ctx
def link_judge(ctx, target, subject_id, same, official, note, as_of):
    """An official's judgement on a pair; it overrides the model for good."""
    from socialcredit.identity import judge
    from socialcredit.objections import parse_target

    source, record_id = parse_target(target)
    report = judge(ctx.store, source, record_id, subject_id, same=same, by=official,
                   on=as_of, note=note)  # fmt: skip
    ctx.emit(report.to_json(), _print_link)
