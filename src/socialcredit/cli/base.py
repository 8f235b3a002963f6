"""What every verb shares: the context (store, --json), date options, progress, output."""

from __future__ import annotations

import json
from datetime import date

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from socialcredit.dates import parse_date

err = Console(stderr=True)
out = Console()


class Ctx:
    def __init__(self, db: str | None, as_json: bool) -> None:
        self.db, self.json = db, as_json
        self._store = None

    @property
    def store(self):
        if self._store is None:
            from socialcredit.store import Store

            self._store = Store.open(self.db)
        return self._store

    def emit(self, data, human=None) -> None:
        if self.json or human is None:
            click.echo(
                json.dumps(data, ensure_ascii=False, indent=None if self.json else 2, default=str)
            )
        else:
            human(data)


def day_option(name: str = "--as-of", help: str = "the date the answer is for (default: today)"):
    return click.option(name, "as_of", default=None, help=help, callback=to_date)


def to_date(ctx, param, value):
    if value is None:
        return date.today() if param.name == "as_of" else None
    try:
        return parse_date(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def progress_bar():
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


pass_ctx = click.make_pass_decorator(Ctx)


@click.group()
@click.pass_context
def cli(click_ctx, **_):
    """An open social credit engine: every point explained, every sanction contestable."""


def who(f):
    f = click.option("--national-id", default=None)(f)
    return click.option("--subject", "subject_id", default=None)(f)


def need_one(national_id, subject_id):
    if (national_id is None) == (subject_id is None):
        raise click.UsageError("give exactly one of --national-id or --subject")
