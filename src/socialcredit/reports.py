"""Self-contained HTML reports: inline CSS, inline SVG charts, plain tables.

Shared by the policy lab's pages (simulation, harm audit) so that they look alike and stay
one file each, fit to mail or archive.
"""

from __future__ import annotations

import html
import io

CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:.2em .6em;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
svg{max-width:100%;height:auto}"""

# Text as text and a fixed id salt: the same report gives the same bytes.
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "socialcredit"}


def svg(fig) -> str:
    """Return a matplotlib Figure as inline SVG markup (no XML prologue, no date)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table; floats to 3 significant digits, [lo, hi] pairs as lo–hi, None as —."""

    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}"
        if isinstance(v, list):
            return "–".join(f"{x:.3g}" for x in v)
        return "—" if v is None else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, parts: list[str]) -> str:
    """One HTML document around `parts` (already-escaped markup)."""
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
