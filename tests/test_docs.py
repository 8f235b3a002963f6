"""Every CLI verb and every HTTP route is documented in the README (a docs test that can fail)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from socialcredit.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def verbs(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in group.commands.items():
        out.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            out += verbs(command, f"{prefix}{name} ")
    return out


def test_every_cli_verb_is_in_the_readme():
    missing = [v for v in verbs(cli) if f"socialcredit {v}" not in README]
    assert missing == []


def test_every_route_is_in_the_readme(tmp_path):
    from socialcredit.service.app import create_app

    app = create_app(f"sqlite:///{tmp_path / 'docs.sqlite'}")
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert routes, "the app serves no documented route"
    missing = [
        f"{m} {p}" for m, p in routes if not re.search(rf"{m} {re.escape(p)}(?![\w/{{])", README)
    ]
    assert missing == []
