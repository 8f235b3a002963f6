"""Records in: ingest and rejects."""

from __future__ import annotations

from pathlib import Path

import click

from socialcredit.cli.base import (
    cli,
    day_option,
    pass_ctx,
    progress_bar,
)

# -- records -------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", default=None, help="source id for rows that name none")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default=None)
@day_option(help="the day the ingest happens (default: today)")
@pass_ctx
def ingest(ctx, file, source, fmt, as_of):
    """Ingest a record file (CSV, JSON Lines or Parquet)."""
    from socialcredit.ingest import ingest_file

    with progress_bar() as bar:
        task = bar.add_task(f"ingest {Path(file).name}", total=None)
        report = ingest_file(
            ctx.store,
            file,
            source=source,
            fmt=fmt,
            as_of=as_of,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    ctx.emit(report.to_json(), _print_ingest)


def _print_ingest(d):
    click.echo(
        f"accepted {d['accepted']}, duplicates {d['duplicates']}, "
        f"corrections {d['corrections']}, rejected {d['rejected']}"
    )
    for r in d["rejected_rows"][:20]:
        click.echo(f"  row {r['row']}: {r['field']}: {r['reason']}")
    if d["rejected"] > 20:
        click.echo(f"  ... and {d['rejected'] - 20} more: socialcredit rejects")


@cli.command()
@click.option("--source", default=None)
@pass_ctx
def rejects(ctx, source):
    """List rejected rows with file, row, field and reason."""
    rows = ctx.store.rejects(source)
    ctx.emit(
        rows,
        lambda rs: (
            [click.echo(f"{r['file']} row {r['row']}: {r['field']}: {r['reason']}") for r in rs]
            or click.echo("no rejected rows")
        ),
    )
