"""Records from a NATS JetStream stream: ingest-stream consumes, publish sends a file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from socialcredit.cli.base import cli, pass_ctx
from socialcredit.dates import parse_date


def _nats_option(f):
    return click.option(
        "--nats",
        "url",
        default=lambda: os.environ.get("SOCIALCREDIT_NATS", "nats://127.0.0.1:4222"),
        show_default="$SOCIALCREDIT_NATS, else nats://127.0.0.1:4222",
        help="the NATS server",
    )(f)


def _day(ctx, param, value):
    # None, not today: a consumer that runs past midnight ingests each batch as of its day.
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@cli.command("ingest-stream")
@_nats_option
@click.option("--stream", default="records", show_default=True,
              help="JetStream stream; records are published on STREAM.<source>")  # fmt: skip
@click.option("--durable", default="socialcredit", show_default=True,
              help="durable consumer name: a restart resumes where it left off")  # fmt: skip
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1),
              help="most messages written in one transaction")  # fmt: skip
@click.option("--max-messages", type=click.IntRange(1), default=None,
              help="stop after this many messages")  # fmt: skip
@click.option("--idle-exit", type=click.FloatRange(0), default=None,
              help="stop after this many seconds without a message")  # fmt: skip
@click.option("--ack-wait", type=click.FloatRange(1), default=60.0, show_default=True,
              help="seconds before JetStream redelivers an unacknowledged batch "
                   "(set when the durable consumer is created)")  # fmt: skip
@click.option("--as-of", default=None, callback=_day,
              help="the day the ingest happens (default: each batch's own day)")  # fmt: skip
@pass_ctx
def ingest_stream(ctx, url, stream, durable, batch, max_messages, idle_exit, ack_wait, as_of):
    """Consume records from NATS JetStream; each batch is committed, rescored, then acked."""
    from socialcredit.stream import run

    last = [0.0]

    def progress(report):
        now = time.monotonic()
        if now - last[0] >= 1.0:  # at most a line a second
            last[0] = now
            click.echo(f"ingest-stream: {report.line()}", err=True)

    click.echo(f"ingest-stream: consuming {stream}.* from {url} as {durable}", err=True)
    report = run(ctx.store, url=url, stream=stream, durable=durable, batch=batch,
                 as_of=as_of, max_messages=max_messages, idle_exit=idle_exit,
                 ack_wait=ack_wait, progress=progress)  # fmt: skip
    click.echo(f"ingest-stream: stopped after {report.line()}", err=True)
    ctx.emit(report.to_json(), lambda d: click.echo(report.line()))


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", required=True, help="published on STREAM.<source>")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default=None)
@_nats_option
@click.option("--stream", default="records", show_default=True)
@pass_ctx
def publish(ctx, file, source, fmt, url, stream):
    """Publish a record file to the stream, one message per record."""
    import asyncio

    from socialcredit.ingest import IngestError, detect_format, read_rows
    from socialcredit.stream import publish as send

    def rows():
        for n, row in enumerate(read_rows(Path(file), detect_format(Path(file), fmt)), 1):
            if isinstance(row, str):
                raise IngestError(f"row {n} of {file} {row}; the rows before it were published")
            yield row

    n = asyncio.run(send(rows(), source=source, url=url, stream=stream))
    subject = f"{stream}.{source}"
    ctx.emit(
        {"published": n, "subject": subject},
        lambda d: click.echo(f"published {n} records on {subject}"),
    )
