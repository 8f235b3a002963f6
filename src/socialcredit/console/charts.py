"""Plotly figures (data + layout, as plain dicts) for the console's charts.

The page embeds each figure as JSON and `static/console.js` draws it with the plotly.min.js
the plotly package ships; every chart also has a table of the same numbers beside it, for
screen readers and for anyone who would rather read than look.
"""

from __future__ import annotations

COLORS = {"deny": "#b3261e", "review": "#c77700", "priority": "#1b6e3a", "allow": "#5b6b7a"}
LAYOUT = {
    "margin": {"l": 48, "r": 12, "t": 36, "b": 48},
    "height": 320,
    "font": {"family": "system-ui, sans-serif", "size": 13},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}


def figure(title: str, data: list[dict], **layout) -> dict:
    return {"data": data, "layout": LAYOUT | {"title": {"text": title}} | layout}


def contributions(file: dict) -> dict:
    """Each record's points to the score, negative in red, positive in green."""
    cs = sorted(file["contributions"], key=lambda c: c["points"])
    labels = [f"{c['source']}:{c['record_id']}" for c in cs]
    points = [round(c["points"], 2) for c in cs]
    return figure(
        "",
        [
            {
                "type": "bar",
                "orientation": "h",
                "x": points,
                "y": labels,
                "marker": {"color": ["#b3261e" if p < 0 else "#1b6e3a" for p in points]},
                "text": [c["rule"] for c in cs],
                "hovertemplate": "%{y} (%{text}): %{x} points<extra></extra>",
            }
        ],
        height=max(200, 60 + 28 * len(cs)),
        margin={"l": 12, "r": 12, "t": 12, "b": 36},
        yaxis={"automargin": True},
    )


def grades(rows: list[dict]) -> dict:
    return figure(
        "Residents by grade",
        [
            {
                "type": "bar",
                "x": [r["grade"] for r in rows],
                "y": [r["subjects"] for r in rows],
                "marker": {"color": "#2f5d8a"},
            }
        ],
        xaxis={"type": "category"},
    )


def list_sizes(sizes: dict) -> dict:
    return figure(
        "Entries in force at each month's end",
        [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": x["list"],
                "x": sizes["days"],
                "y": x["sizes"],
            }
            for x in sizes["lists"]
        ],  # fmt: skip
        legend={"orientation": "h", "y": -0.2},
    )


def objections(figs: dict) -> dict:
    states = figs["by_state"]
    return figure(
        "Objections by outcome",
        [
            {
                "type": "bar",
                "x": list(states),
                "y": list(states.values()),
                "marker": {"color": "#6a4c93"},
            }
        ],
        xaxis={"type": "category"},
    )


def days_to_decision(figs: dict) -> dict:
    rows = figs["days_to_decision"]
    return figure(
        "Days from objection to decision",
        [
            {
                "type": "bar",
                "x": [r["days"] for r in rows],
                "y": [r["objections"] for r in rows],
                "marker": {"color": "#6a4c93"},
            }
        ],  # fmt: skip
        xaxis={"title": {"text": "days"}},
    )


def checks(rows: list[dict]) -> dict:
    services = list(dict.fromkeys(r["service"] for r in rows))
    decisions = list(dict.fromkeys(r["decision"] for r in rows))
    n = {(r["service"], r["decision"]): r["checks"] for r in rows}
    return figure(
        "Checks by service and decision",
        [
            {
                "type": "bar",
                "name": d,
                "x": services,
                "y": [n.get((s, d), 0) for s in services],
                "marker": {"color": COLORS.get(d, "#888")},
            }
            for d in decisions
        ],  # fmt: skip
        barmode="stack",
        xaxis={"type": "category"},
        legend={"orientation": "h", "y": -0.2},
    )
