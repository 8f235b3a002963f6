"""The policy lab's harm audit: `audit harm`, on the `audit` group of files.py."""

from __future__ import annotations

from pathlib import Path

import click

from socialcredit.cli.base import day_option, pass_ctx
from socialcredit.cli.files import audit


@audit.command("harm")
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="the synthetic city's answer key (truth/truth.parquet); default: the demo's, if any",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the report as a self-contained HTML page with charts",
)
@day_option()
@pass_ctx
def audit_harm(ctx, truth_path, html_path, as_of):
    """Sanctions on the wrong person, sanctions that outlived their cause, time to exit."""
    from socialcredit.harm import audit_store, render_html

    report = audit_store(ctx.store, as_of, truth_path)
    if html_path:
        Path(html_path).write_text(render_html(report), encoding="utf-8")
    ctx.emit(report, _print)


def _print(r: dict) -> None:
    s, w, o = r["sanctions"], r["wrong_person"], r["outlived"]
    click.echo(
        f"{r['subjects']} people as of {r['as_of']}: {s['entries']} sanctions on "
        f"{s['people']} people ({s['deny_decisions']} deny decisions, {s['in_force']} in force)"
    )
    if w is None:
        click.echo("wrong person: no ground truth (give --truth)")
    else:
        click.echo(
            f"wrong person: {w['entries']} sanctions on {w['people']} people, {w['days']} days"
            f" (linkage {w['by_cause']['linkage']}, source mistake"
            f" {w['by_cause']['source_mistake']}; {w['in_force']} still in force)"
        )
    reasons = ", ".join(f"{k} {v['entries']}" for k, v in o["by_reason"].items() if v["entries"])
    click.echo(
        f"outlived their cause: {o['entries']} sanctions, {o['days']} excess days"
        + (f" ({reasons})" if reasons else "")
    )
    if r["index"] is not None:
        click.echo(f"decision index: {r['index']['stale']} of {r['index']['checked']} stale")
    for lid, d in r["exit_times"].items():
        if d["exited"]:
            click.echo(
                f"{lid}: {d['exited']} exited, median {d['median_days']:g} days,"
                f" p90 {d['p90_days']:g}, max {d['max_days']}; {d['in_force']} in force"
            )
        else:
            click.echo(f"{lid}: none exited; {d['in_force']} in force")
