"""Rulebooks and the policy lab: load, validate, lint, show, simulate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from socialcredit.cli.base import (
    cli,
    day_option,
    pass_ctx,
)

# -- rulebook ------------------------------------------------------------------------------


@cli.group()
def rulebook():
    """Load, validate and show rulebooks."""


def _problems(text: str) -> dict:
    from socialcredit.rulebook import validate

    errors = [
        {"path": p.path, "message": p.message, "law": getattr(p, "law", None)}
        for p in validate(text)
    ]
    return {"ok": not errors, "errors": errors, "warnings": []}


def _print_problems(data):
    for level in ("errors", "warnings"):
        for f in data[level]:
            law = f" [{f['law']}]" if f.get("law") else ""
            click.echo(f"{level[:-1]:7} {f['path']}: {f['message']}{law}")
    click.echo(f"{len(data['errors'])} error(s), {len(data['warnings'])} warning(s)")


def _check_file(ctx, file, report) -> None:
    data = report(Path(file).read_text(encoding="utf-8"))
    ctx.emit(data, _print_problems)
    sys.exit(0 if data["ok"] else 1)


@rulebook.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def rulebook_validate(ctx, file):
    """Check a rulebook file and list every problem by path."""
    _check_file(ctx, file, _problems)


@rulebook.command("lint")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def rulebook_lint(ctx, file):
    """Lint a rulebook against the law (SPEC §3 "Lint"); non-zero exit on any error."""
    from socialcredit.rulebook.lint import lint_report

    _check_file(ctx, file, lint_report)


@rulebook.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def rulebook_load(ctx, file):
    """Load a rulebook version and make its id the active rulebook."""
    from socialcredit.rulebook import load_rulebook

    rb = load_rulebook(Path(file).read_text(encoding="utf-8"))
    new = ctx.store.load_rulebook(rb)
    data = {"rulebook": rb.id, "version": rb.version, "loaded": new}
    ctx.emit(
        data,
        lambda d: click.echo(
            f"rulebook {d['rulebook']} v{d['version']} " + ("loaded" if new else "already loaded")
        ),
    )


@rulebook.command("show")
@day_option()
@pass_ctx
def rulebook_show(ctx, as_of):
    """Print the rulebook in force (YAML, as loaded)."""
    rb = ctx.store.rulebook_in_force(as_of)
    ctx.emit(
        {"rulebook": rb.id, "version": rb.version, "text": rb.text}, lambda d: click.echo(d["text"])
    )


@cli.command()
@click.option(
    "--rulebook",
    "rulebook_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="the candidate rulebook",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the report as a self-contained HTML page with charts",
)
@click.option("--seed", type=int, default=0, help="bootstrap seed of the fairness intervals")
@day_option()
@pass_ctx
def simulate(ctx, rulebook_file, html_path, seed, as_of):
    """What a candidate rulebook would do to the population, changing nothing."""
    from socialcredit.rulebook import load_rulebook
    from socialcredit.simulate import render_html, simulate_store

    candidate = load_rulebook(Path(rulebook_file).read_text(encoding="utf-8"))
    report = simulate_store(ctx.store, candidate, as_of, seed=seed)
    if html_path:
        Path(html_path).write_text(render_html(report), encoding="utf-8")
    ctx.emit(report)
