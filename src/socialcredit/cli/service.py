"""The service: API tokens and `serve`."""

from __future__ import annotations

import click

from socialcredit.cli.base import cli, err, pass_ctx


@cli.group()
def token():
    """API tokens: one role each, stored hashed; the secret is shown once."""


@token.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["source", "provider", "subject", "official", "senior_official", "auditor"]),
)
@click.option("--national-id", default=None, help="subject: the person the token belongs to")
@click.option("--service", "services", multiple=True, help="provider: a service it checks (repeat)")
@click.option("--source", default=None, help="source: the source id it reports for")
@click.option(
    "--rate",
    type=click.IntRange(min=1),
    default=None,
    help="provider: people it may check a minute (default 1200)",
)
@pass_ctx
def token_create(ctx, role, national_id, services, source, rate):
    """Create an API token: {"token_id", "token", "role"}."""
    from socialcredit.service.auth import create_token

    data = create_token(
        ctx.store, role, national_id=national_id, services=services, source=source, rate=rate
    )

    def human(d):
        click.echo(d["token"])
        err.print(
            f"{d['role']} token {d['token_id']} — keep the line above: the secret is not "
            "stored and cannot be shown again"
        )

    ctx.emit(data, human)


@token.command("revoke")
@click.argument("token_id")
@pass_ctx
def token_revoke(ctx, token_id):
    """Revoke a token; it fails from the next request."""
    from socialcredit.service.auth import revoke_token

    data = revoke_token(ctx.store, token_id)
    ctx.emit(data, lambda d: click.echo(f"token {d['token_id']} revoked"))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@pass_ctx
def serve(ctx, host, port):
    """Serve the HTTP API (SPEC §5) and the web console under uvicorn until interrupted."""
    from socialcredit.service.server import serve as run

    store = ctx.store  # opened here, so a bad --db is a one-line error, not a traceback
    err.print(
        f"socialcredit API on http://{host}:{port} (OpenAPI at /openapi.json), "
        f"web console at http://{host}:{port}/console"
    )
    run(store, host, port)
