"""The harm audit as one self-contained HTML page: tables and inline SVG charts."""

from __future__ import annotations

import html

from socialcredit.reports import SVG_RC, page, svg, table

DAYS = ("median_days", "p90_days", "max_days")


def _days(v: float | None) -> str | None:
    return None if v is None else f"{v:g}"


def _exit_chart(exit_times: dict) -> str:
    """Median, 90th percentile and maximum days from cause to exit, one row per list."""
    rows = [(lid, d) for lid, d in exit_times.items() if d["exited"]]
    if not rows:
        return "<p>No entry has exited yet.</p>"
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(7, 0.9 + 0.45 * len(rows)))
    ax = fig.subplots()
    names = [lid for lid, _ in rows][::-1]
    for field, colour, label in (
        ("max_days", "#d9d9d9", "max"),
        ("p90_days", "#8fa9c7", "p90"),
        ("median_days", "#2f5d8a", "median"),
    ):
        ax.barh(names, [d[field] for _, d in rows][::-1], color=colour, label=label)
    ax.set_xlabel("days from cause to exit")
    ax.legend(loc="lower right", fontsize=8)
    return svg(fig)


def _histogram_chart(exit_times: dict) -> str:
    rows = [(lid, d) for lid, d in exit_times.items() if d["exited"]]
    if not rows:
        return ""
    from matplotlib.figure import Figure

    edges = rows[0][1]["histogram"]["from_days"]
    labels = [f"{a}–{b}" for a, b in zip(edges, edges[1:], strict=False)] + [f"{edges[-1]}+"]
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    width = 0.8 / len(rows)
    for i, (lid, d) in enumerate(rows):
        xs = [j + i * width for j in range(len(labels))]
        ax.bar(xs, d["histogram"]["entries"], width=width, label=lid)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], labels, fontsize=8)
    ax.set_xlabel("days from cause to exit")
    ax.set_ylabel("entries")
    ax.legend(fontsize=7)
    return svg(fig)


def render_html(report: dict) -> str:
    """Return the harm audit report as one HTML page."""
    import matplotlib

    rb = report["rulebook"]
    title = f"Harm audit: {rb['id']} v{rb['version']} as of {report['as_of']}"
    s, w, o = report["sanctions"], report["wrong_person"], report["outlived"]
    head = ["", "entries", "people", "deny decisions", "days", "still in force"]

    def row(label, t):
        return [label, t["entries"], t["people"], t["deny_decisions"], t["days"], t["in_force"]]

    rows = [row("sanctions (restrict entries ever active)", s)]
    if w is not None:
        rows.append(row("on the wrong person", w))
    rows.append(row("enforced after their cause had gone (excess days)", o))
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{report['subjects']} people. Counts only, never who. A sanction is an entry of a"
        " restrict list that was active on at least one day; its days are the days it was"
        " enforced in the view of the facts known on each day.</p>",
        table(head, rows),
    ]
    if w is not None:
        parts.append(
            f"<p>Wrong person by cause: identity linkage {w['by_cause']['linkage']},"
            f" source mistake (a record sent with someone else's id)"
            f" {w['by_cause']['source_mistake']}.</p>"
        )
    else:
        parts.append("<p>No ground truth was given: wrong-person counts are not available.</p>")
    parts.append("<h2>Why sanctions outlived their cause</h2>")
    parts.append(
        table(
            ["reason", "entries", "excess days"],
            [[r, c["entries"], c["days"]] for r, c in o["by_reason"].items()],
        )
    )
    if report["index"] is not None:
        ix = report["index"]
        parts.append("<h2>Decision index</h2>")
        parts.append(
            f"<p>{ix['checked']} stored entries in force checked against the evaluator on"
            f" their day; {ix['stale']} should have ended.</p>"
        )
    parts.append("<h2>Time from cause to exit</h2>")
    with matplotlib.rc_context(SVG_RC):
        parts.append(_exit_chart(report["exit_times"]))
        parts.append(_histogram_chart(report["exit_times"]))
    parts.append(
        table(
            ["list", "exited", "still in force", "median days", "p90 days", "max days"],
            [
                [lid, d["exited"], d["in_force"], *(_days(d[k]) for k in DAYS)]
                for lid, d in report["exit_times"].items()
            ],
        )
    )
    return page(title, parts)
