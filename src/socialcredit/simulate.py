"""The policy lab: what a candidate rulebook would do to the population, changing nothing.

`simulate` runs the batch plan twice on the same input tables, once per rulebook, and
compares: grades (a transition matrix), list entries that would start or end, decisions
that would change per service, how many people a change touches, and, given demographics,
who bears the lists and denials (rates per group, disparity ratios, bootstrap intervals).
Only counts and rates leave this module, never a subject id. `render_html` draws the
report as one self-contained page.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import date

import numpy as np
import pyarrow as pa

from socialcredit.checks import services_of
from socialcredit.engine import duckdb as engine
from socialcredit.reports import SVG_RC, page, svg, table
from socialcredit.rulebook.model import EFFECTS, Rulebook

ALLOW = "allow"
AGE_BANDS = ((25, "under 25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
OLDEST_BAND = "65 and over"
FAIRNESS_ATTRIBUTES = ("district", "sex", "age_band")


def _run(tables: dict[str, pa.Table], rb: Rulebook, day: date, model=None) -> engine.BatchResult:
    con = engine.connect(tables)
    try:
        return engine.run(con, rb, day, model=model)
    finally:
        con.close()


class _State:
    """One rulebook's outcome per subject: grade, lists in force, decision per service
    (only the stored ones: a subject without a decision at a service is allowed there)."""

    def __init__(self, result: engine.BatchResult) -> None:
        s, e, d = result.scores, result.entries, result.decisions
        self.grade = dict(zip(s["subject_id"].to_pylist(), s["grade"].to_pylist(), strict=True))
        self.listed = set(zip(e["subject_id"].to_pylist(), e["list_id"].to_pylist(), strict=True))
        self.lists_of: dict[str, set[str]] = {}
        for sid, lid in self.listed:
            self.lists_of.setdefault(sid, set()).add(lid)
        self.decision = {
            (sid, svc): dec
            for sid, svc, dec in zip(
                d["subject_id"].to_pylist(),
                d["service"].to_pylist(),
                d["decision"].to_pylist(),
                strict=True,
            )
        }


def simulate(
    tables: dict[str, pa.Table],
    active: Rulebook,
    candidate: Rulebook,
    day: date,
    demographics: pa.Table | None = None,
    *,
    replicates: int = 1000,
    seed: int = 0,
    model=None,
) -> dict:
    """Compare `candidate` with `active` on `day` over the same stored population;
    `model` is the scorecard that `model_score_at_least` lists read (None: none)."""
    a = _State(_run(tables, active, day, model))
    c = _State(_run(tables, candidate, day, model))
    subjects = sorted(
        set(tables["subjects"]["subject_id"].to_pylist()).union(
            a.grade, c.grade, a.lists_of, c.lists_of, (k[0] for k in (*a.decision, *c.decision))
        )
    )
    services = list(dict.fromkeys(services_of(active) + services_of(candidate)))
    list_ids = list(dict.fromkeys([x.id for x in active.lists] + [x.id for x in candidate.lists]))
    report = {
        "as_of": day.isoformat(),
        "active": {"id": active.id, "version": active.version},
        "candidate": {"id": candidate.id, "version": candidate.version},
        "subjects": len(subjects),
        "grades": _transitions(subjects, a, c, active, candidate),
        "lists": {lid: _list_change(lid, a, c, active, candidate) for lid in list_ids},
        "decisions": {svc: _decision_change(svc, len(subjects), a, c) for svc in services},
        "most_affected": _most_affected(subjects, a, c, candidate),
    }
    if demographics is not None:
        report["fairness"] = fairness(
            subjects, services, a, c, active, candidate, demographics, replicates, seed
        )
    return report


def simulate_store(store, candidate: Rulebook, day: date, *, seed: int = 0) -> dict:
    """Simulate `candidate` against the rulebook in force in `store` on `day`, with the
    fairness audit over the subjects' identity attributes (the CLI's and the API's entry)."""
    from socialcredit.scorecard.timeline import model_for

    active = store.rulebook_in_force(day)
    return simulate(
        store.batch_tables(),
        active,
        candidate,
        day,
        demographics_table(store.subject_attributes(), day),
        seed=seed,
        model=model_for(store, candidate) or model_for(store, active),
    )


def _transitions(subjects, a: _State, c: _State, active: Rulebook, candidate: Rulebook) -> dict:
    rows = [g.grade for g in active.grades] + [None]  # None: unscored
    cols = [g.grade for g in candidate.grades] + [None]
    pairs = Counter((a.grade.get(s), c.grade.get(s)) for s in subjects)
    matrix = [[pairs[r, k] for k in cols] for r in rows]
    return {
        "active": rows,
        "candidate": cols,
        "matrix": matrix,
        "changed": sum(n for (r, k), n in pairs.items() if r != k),
    }


def _list_change(list_id: str, a: _State, c: _State, active: Rulebook, cand: Rulebook) -> dict:
    """Entries matched by (subject, list): an entry in force under one rulebook only starts
    (candidate) or ends (active)."""
    before = {s for s, lid in a.listed if lid == list_id}
    after = {s for s, lid in c.listed if lid == list_id}
    ld = cand.list_def(list_id) or active.list_def(list_id)
    return {
        "kind": ld.kind if ld else None,
        "in_active": len(before) if active.list_def(list_id) else None,
        "in_candidate": len(after) if cand.list_def(list_id) else None,
        "starting": len(after - before),
        "ending": len(before - after),
    }


def _decision_change(service: str, n: int, a: _State, c: _State) -> dict:
    """From → to counts at one service; a subject without a stored decision is allowed."""
    keys = {k for k in (*a.decision, *c.decision) if k[1] == service}
    pairs = Counter((a.decision.get(k, ALLOW), c.decision.get(k, ALLOW)) for k in keys)
    pairs[ALLOW, ALLOW] += n - len(keys)
    before, after = Counter(), Counter()
    for (x, y), count in pairs.items():
        before[x] += count
        after[y] += count
    changes = [
        {"from": x, "to": y, "count": count}
        for (x, y), count in sorted(
            pairs.items(), key=lambda p: (-p[1], EFFECTS.index(p[0][0]), EFFECTS.index(p[0][1]))
        )
        if x != y
    ]
    return {
        "active": {e: before[e] for e in EFFECTS},
        "candidate": {e: after[e] for e in EFFECTS},
        "changed": sum(ch["count"] for ch in changes),
        "changes": changes,
    }


def _most_affected(subjects, a: _State, c: _State, candidate: Rulebook) -> dict:
    """How many people a change touches, and how hard: counts only, never who."""
    changed, newly_denied, no_longer_denied = Counter(), set(), set()
    for key in set(a.decision) | set(c.decision):
        x, y = a.decision.get(key, ALLOW), c.decision.get(key, ALLOW)
        changed[key[0]] += x != y
        if y == "deny" != x:
            newly_denied.add(key[0])
        if x == "deny" != y:
            no_longer_denied.add(key[0])
    per_person = Counter(k for k in changed.values() if k)
    restrict = {x.id for x in candidate.lists if x.kind == "restrict"}
    newly_restricted = sum(
        bool((lists - a.lists_of.get(s, set())) & restrict) for s, lists in c.lists_of.items()
    )
    rank = {g.grade: i for i, g in enumerate(candidate.grades)}
    moves = Counter()
    for s in subjects:
        ga, gc = a.grade.get(s), c.grade.get(s)
        if ga != gc and ga in rank and gc in rank:
            moves["lower" if rank[gc] > rank[ga] else "higher"] += 1
    return {
        "by_services_changed": {str(k): per_person[k] for k in sorted(per_person)},
        "changed_at_2_or_more_services": sum(n for k, n in per_person.items() if k >= 2),
        "newly_denied_somewhere": len(newly_denied),
        "no_longer_denied_somewhere": len(no_longer_denied),
        "newly_on_a_restrict_list": newly_restricted,
        "grade_lower": moves["lower"],
        "grade_higher": moves["higher"],
    }


# -- fairness -------------------------------------------------------------------------------


def age_band(birth_date: date | None, day: date) -> str | None:
    """The ten-year age band (under 25, 25-34, ..., 65 and over) of someone on `day`."""
    if birth_date is None:
        return None
    age = day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
    return next((band for limit, band in AGE_BANDS if age < limit), OLDEST_BAND)


def demographics_table(subjects: pa.Table, day: date) -> pa.Table:
    """(subject_id, district, sex, age_band) from identity attributes, for the audit only.

    `subjects` needs subject_id, sex and birth_date, and a district column or a
    national_id, whose first six digits are the issuing district's code.
    """
    cols = subjects.column_names
    if "district" in cols:
        district = subjects["district"].to_pylist()
    else:
        district = [n[:6] if n else None for n in subjects["national_id"].to_pylist()]
    return pa.table(
        {
            "subject_id": subjects["subject_id"],
            "district": pa.array(district, pa.string()),
            "sex": subjects["sex"].cast(pa.string()),
            "age_band": pa.array(
                [age_band(b, day) for b in subjects["birth_date"].to_pylist()], pa.string()
            ),
        }
    )


def _indicators(subjects, services, a, c, active, candidate) -> dict[tuple, np.ndarray]:
    """0/1 per subject for each (rulebook, kind, name): denied at a service, on a restrict
    list, in a grade."""
    at = {s: i for i, s in enumerate(subjects)}
    out: dict[tuple, np.ndarray] = {}
    for label, state, rb in (("active", a, active), ("candidate", c, candidate)):
        denied = {svc: np.zeros(len(subjects)) for svc in services}
        for (sid, svc), decision in state.decision.items():
            if decision == "deny" and svc in denied:
                denied[svc][at[sid]] = 1
        out.update({(label, "denied", svc): y for svc, y in denied.items()})
        restrict = [ld.id for ld in rb.lists if ld.kind == "restrict"]
        listed = {lid: np.zeros(len(subjects)) for lid in restrict}
        for sid, lid in state.listed:
            if lid in listed:
                listed[lid][at[sid]] = 1
        out.update({(label, "listed", lid): y for lid, y in listed.items()})
        grades = np.asarray([state.grade.get(s) for s in subjects], dtype=object)
        for g in rb.grades:
            out[label, "grade", g.grade] = (grades == g.grade).astype(float)
    return out


def _bootstrap(cells: np.ndarray, replicates: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Per-group rate and rate/overall ratio in each bootstrap replicate.

    `cells[g, v]` counts the people of group g with outcome v (0/1). Drawing n people with
    replacement makes these counts a multinomial over their observed shares, so the cells
    are drawn directly: the same bootstrap as resampling people, at a cost independent of n.
    """
    n = int(cells.sum())
    groups = cells.shape[0]
    draws = rng.multinomial(n, cells.reshape(-1) / n, size=replicates)
    draws = draws.reshape(replicates, groups, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = draws[:, :, 1] / draws.sum(axis=2)
        overall = draws[:, :, 1].sum(axis=1, keepdims=True) / n
        return rate, rate / overall


def _interval(samples: np.ndarray) -> list[float] | None:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return None
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]


def fairness(subjects, services, a, c, active, candidate, demographics, replicates, seed) -> dict:
    """Rates per group with disparity ratios (group rate / overall rate): the rates from
    fairlearn's MetricFrame, 95% intervals from a seeded bootstrap."""
    known = {sid: i for i, sid in enumerate(demographics["subject_id"].to_pylist())}
    keep = [i for i, s in enumerate(subjects) if s in known]
    rows = pa.array([known[subjects[i]] for i in keep], pa.int64())
    attributes = [x for x in FAIRNESS_ATTRIBUTES if x in demographics.column_names]
    indicators = _indicators(subjects, services, a, c, active, candidate)
    names = list(indicators)
    y = np.stack([indicators[k][keep] for k in names]) if names else np.zeros((0, len(keep)))
    rng = np.random.default_rng(seed)
    metrics = [
        {"rulebook": k[0], "kind": k[1], "name": k[2], "overall": None, "by": {}} for k in names
    ]
    for attr in attributes if keep else ():
        values = demographics[attr].take(rows).to_pylist()
        groups, codes = np.unique(
            np.asarray(["unknown" if v is None else str(v) for v in values]), return_inverse=True
        )
        # cells[k, g, v]: how many people of group g have value v (0/1) for indicator k.
        cells = np.stack(
            [np.bincount(codes * 2 + row.astype(int), minlength=2 * len(groups)) for row in y]
        ).reshape(len(names), len(groups), 2)
        rates, overall = _metric_frame(attr, groups, cells)
        for k, m in enumerate(metrics):
            m["overall"] = overall[k]
            boot_rates, boot_ratios = _bootstrap(cells[k], replicates, rng)
            m["by"][attr] = [
                {
                    "group": str(g),
                    "n": int(cells[k, j].sum()),
                    "count": int(cells[k, j, 1]),
                    "rate": rates[k][j],
                    "rate_ci": _interval(boot_rates[:, j]),
                    "ratio": rates[k][j] / overall[k] if overall[k] else None,
                    "ratio_ci": _interval(boot_ratios[:, j]),
                }
                for j, g in enumerate(groups)
            ]
    return {
        "population": len(keep),
        "without_demographics": len(subjects) - len(keep),
        "attributes": attributes,
        "bootstrap": {"replicates": replicates, "seed": seed, "level": 0.95},
        "metrics": metrics,
    }


def _metric_frame(attr: str, groups: np.ndarray, cells: np.ndarray) -> tuple[list, list]:
    """Selection rates per (indicator, group) and per indicator, from fairlearn's MetricFrame.

    Every indicator is a 0/1 outcome, so the frame is fed the (indicator, group, value)
    cells weighted by their counts — the same rates as one row per person, at a cost
    independent of the population — with the indicator as a control feature.
    """
    from fairlearn.metrics import MetricFrame, selection_rate

    k, g = cells.shape[:2]
    value = np.tile([0, 1], k * g)
    frame = MetricFrame(
        metrics={"rate": selection_rate},
        y_true=value,
        y_pred=value,
        sensitive_features={attr: np.tile(np.repeat(groups, 2), k)},
        control_features={"indicator": np.repeat(np.arange(k), 2 * g)},
        sample_params={"rate": {"sample_weight": cells.reshape(-1)}},
    )
    by_group, overall = frame.by_group["rate"], frame.overall["rate"]
    rates = [[float(by_group.loc[(i, x)]) for x in groups] for i in range(k)]
    return rates, [float(overall.loc[i]) for i in range(k)]


# -- the HTML page --------------------------------------------------------------------------


def _heatmap(grades: dict) -> str:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    def labels(v):
        return "unscored" if v is None else v

    m = np.asarray(grades["matrix"], dtype=float)
    fig = Figure(figsize=(1 + 0.7 * m.shape[1], 1 + 0.6 * m.shape[0]))
    ax = fig.subplots()
    ax.pcolormesh(m, cmap="Blues", edgecolors="white")  # vector cells, no embedded image
    ax.invert_yaxis()
    ax.set_xticks(np.arange(m.shape[1]) + 0.5, [labels(v) for v in grades["candidate"]])
    ax.set_yticks(np.arange(m.shape[0]) + 0.5, [labels(v) for v in grades["active"]])
    ax.set_xlabel("candidate grade")
    ax.set_ylabel("active grade")
    for (i, j), v in np.ndenumerate(m):
        colour = "white" if v > m.max() / 2 else "black"
        ax.text(j + 0.5, i + 0.5, f"{int(v)}", ha="center", va="center", color=colour, fontsize=8)
    return svg(fig)


def _bars(decisions: dict) -> str:
    bars = [
        (f"{svc}: {ch['from']} → {ch['to']}", ch["from"], ch["to"], ch["count"])
        for svc, d in decisions.items()
        for ch in d["changes"]
    ]
    if not bars:
        return "<p>No decision changes at any service.</p>"
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # Red where the candidate is harsher (a stronger effect), green where it is milder.
    harsher = [EFFECTS.index(b[2]) < EFFECTS.index(b[1]) for b in bars][::-1]
    fig = Figure(figsize=(7, 0.8 + 0.35 * len(bars)))
    ax = fig.subplots()
    ax.barh(
        [b[0] for b in bars][::-1],
        [b[3] for b in bars][::-1],
        color=["#b0413e" if h else "#3e7d4f" for h in harsher],
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("people")
    return svg(fig)


def render_html(report: dict) -> str:
    """Return the report as one self-contained HTML page: inline CSS and inline SVG charts."""
    import matplotlib

    a, c = report["active"], report["candidate"]
    title = f"Simulation: {c['id']} v{c['version']} against {a['id']} v{a['version']}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>As of {report['as_of']}, {report['subjects']} people. Nothing was changed.</p>",
        "<h2>Grades</h2>",
    ]
    with matplotlib.rc_context(SVG_RC):
        parts.append(_heatmap(report["grades"]))
        parts.append("<h2>Decisions that would change</h2>")
        parts.append(_bars(report["decisions"]))
    parts.append(
        table(
            [
                "service",
                *[f"{e} (active)" for e in EFFECTS],
                *[f"{e} (candidate)" for e in EFFECTS],
                "changed",
            ],
            [
                [s, *d["active"].values(), *d["candidate"].values(), d["changed"]]
                for s, d in report["decisions"].items()
            ],
        )
    )
    parts.append("<h2>List entries that would start or end</h2>")
    parts.append(
        table(
            ["list", "kind", "in force (active)", "in force (candidate)", "starting", "ending"],
            [
                [lid, x["kind"], x["in_active"], x["in_candidate"], x["starting"], x["ending"]]
                for lid, x in report["lists"].items()
            ],
        )
    )
    parts.append("<h2>People affected (counts only)</h2>")
    parts.append(
        table(
            ["measure", "people"],
            [
                [k.replace("_", " "), v]
                for k, v in report["most_affected"].items()
                if not isinstance(v, dict)
            ],
        )
    )
    if "fairness" in report:
        parts.append(_fairness_html(report["fairness"]))
    return page(title, parts)


def _fairness_html(f: dict) -> str:
    parts = [
        "<h2>Fairness (candidate)</h2>",
        f"<p>{f['population']} people with demographics ({f['without_demographics']} without)."
        " Ratio = group rate / overall rate; 95% bootstrap intervals over"
        f" {f['bootstrap']['replicates']} replicates (seed {f['bootstrap']['seed']}).</p>",
    ]
    for m in f["metrics"]:
        if m["rulebook"] != "candidate" or m["kind"] == "grade" or not m["overall"]:
            continue
        what = "denied at" if m["kind"] == "denied" else "on list"
        parts.append(f"<h3>{what} {html.escape(m['name'])}: overall {m['overall']:.3g}</h3>")
        rows = [
            [f"{attr} = {g['group']}", g["n"], g["rate"], g["rate_ci"], g["ratio"], g["ratio_ci"]]
            for attr, groups in m["by"].items()
            for g in groups
        ]
        parts.append(table(["group", "people", "rate", "95% CI", "ratio", "95% CI"], rows))
    return "\n".join(parts)
