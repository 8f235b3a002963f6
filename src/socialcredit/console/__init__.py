"""The web console: residents, providers and officials each get their own window.

Served by the API's own application (`mount`), rendered on the server from Jinja2
templates, with charts drawn by Plotly's bundled script served from this machine. Every
page has a JSON twin at the same path plus `.json`, built from the same context.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from socialcredit.console import city, lab, official, people, provider, resident, web


def plotly_js() -> Path:
    """The plotly.min.js that ships inside the plotly package: no CDN, works offline."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def plotly_version() -> str:
    import plotly

    return plotly.__version__


def mount(app: FastAPI) -> None:
    """Add the console's pages and static files to the API's application."""
    web.install(app)
    for module in (people, resident, provider, official, city, lab):
        app.include_router(module.router)
    js = plotly_js()
    # the URL names the plotly version, so browsers may keep the 4.6 MB script for good
    url = f"/console/static/plotly-{plotly_version()}.min.js"
    web.templates.env.globals["plotly_js"] = url

    @app.get(url, include_in_schema=False)
    def _plotly() -> FileResponse:
        return FileResponse(
            js,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    app.mount("/console/static", StaticFiles(directory=web.HERE / "static"), name="console-static")
