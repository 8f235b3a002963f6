"""The `socialcredit` command line (SPEC §4): parse, call one core function, present.

Each module registers the verbs of one area on the `cli` group in base.py.
"""

from __future__ import annotations

import logging
import sys

import click

from socialcredit.cli import (  # noqa: F401
    files,
    identity,
    lab,
    model,
    procedure,
    records,
    rulebook,
    service,
    stream,
)
from socialcredit.cli.base import Ctx, cli

# -- entry point ---------------------------------------------------------------------------


def split_globals(argv: list[str]) -> tuple[list[str], str | None, bool]:
    """Take --db and --json from anywhere on the line (SPEC §4)."""
    rest, db, as_json, i = [], None, False, 0
    while i < len(argv):
        a = argv[i]
        if a == "--json":
            as_json = True
        elif a == "--db" and i + 1 < len(argv):
            db, i = argv[i + 1], i + 1
        elif a.startswith("--db="):
            db = a[5:]
        else:
            rest.append(a)
        i += 1
    return rest, db, as_json


def main(argv: list[str] | None = None) -> None:
    from socialcredit.errors import USER_ERRORS

    # Splink reports each comparison level unseen in training; the link report says what
    # matters, so keep its chatter off the terminal.
    logging.getLogger("splink").setLevel(logging.ERROR)
    args, db, as_json = split_globals(list(sys.argv[1:] if argv is None else argv))
    ctx = Ctx(db, as_json)
    try:
        cli.main(args, prog_name="socialcredit", obj=ctx, standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except USER_ERRORS as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if hasattr(e, "problems"):  # a refused rulebook: every problem, still one line
            msg = f"{msg.rstrip(':')}: " + "; ".join(str(p) for p in e.problems)
        click.echo(f"error: {msg}", err=True)
        sys.exit(1)
    finally:
        if ctx._store is not None:
            ctx._store.close()
