"""The model card: what the scorecard was trained on, how well it separates, whether its
probabilities hold, whether the population has moved, and who it favours.

`build` returns one dict (JSON-ready, stored with the model); `sections` lays it out as
titled tables, which `render_markdown` and `render_html` both draw — one context, two
renderings. Discrimination: AUC, Gini (2·AUC − 1) and KS (the largest gap between the
cumulative score distributions of goods and defaults). Stability: the population
stability index (PSI) of the score and of each feature's bins between two periods
(under 0.1 stable, 0.1–0.25 a moderate shift, over 0.25 a major shift: the usual reading).
Fairness: per sex, age band and district, the approval rate at the perk threshold, its
ratio to the best-treated group (under 0.8 fails the four-fifths rule of thumb), the
default rate among the approved and the AUC inside the group.
"""

from __future__ import annotations

import html
import math
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from socialcredit.scorecard.model import ScoreModel

THRESHOLD = 650  # Zhima's deposit-free threshold (Shanghai Library, 2015), the perk line
SESAME_BANDS = ((350, "350–549 poor"), (550, "550–599 medium"), (600, "600–649 good"),
                (650, "650–699 excellent"), (700, "700–950 extremely good"))  # fmt: skip
ATTRIBUTES = ("sex", "age_band", "district")
MIN_GROUP = 30  # smaller groups are shown but their rates are not compared


def discrimination(y, p_bad) -> dict:
    """AUC, Gini and KS of predicted default probabilities against outcomes."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        return {"auc": None, "gini": None, "ks": None, "n": int(len(y)), "defaults": int(y.sum())}
    auc = float(roc_auc_score(y, p_bad))
    fpr, tpr, _ = roc_curve(y, p_bad)
    return {"auc": auc, "gini": 2 * auc - 1, "ks": float(np.max(tpr - fpr)),
            "n": int(len(y)), "defaults": int(y.sum())}  # fmt: skip


def calibration(y, p_bad, score, groups: int = 10) -> list[dict]:
    """Predicted against observed default rates, by tenths of the predicted probability
    (fewer groups where many people share a score: equal scores stay together)."""
    df = pd.DataFrame({"y": np.asarray(y, int), "p": p_bad, "s": score})
    df["g"] = pd.qcut(df["p"], min(groups, len(df)), labels=False, duplicates="drop")
    rows = []
    for _, g in df.groupby("g"):
        rows.append({"n": int(len(g)), "score_min": float(g.s.min()),
                     "score_max": float(g.s.max()), "predicted": float(g.p.mean()),
                     "observed": float(g.y.mean())})  # fmt: skip
    return sorted(rows, key=lambda r: -r["score_min"])


def psi(expected, actual, edges) -> float:
    """Population stability index of two samples over the bins cut at `edges`."""
    e = np.histogram(expected, edges)[0] / max(len(expected), 1)
    a = np.histogram(actual, edges)[0] / max(len(actual), 1)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)  # an empty bin would be infinite
    return float(np.sum((a - e) * np.log(a / e)))


def stability(model: ScoreModel, first: pd.DataFrame, second: pd.DataFrame) -> dict:
    """PSI of the score (over tenths of the first period's scores) and of each feature's
    bins between two populations."""
    s1, s2 = model.score(first), model.score(second)
    edges = np.unique(np.quantile(s1, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    out = {"score": psi(s1, s2, edges), "features": {}}
    for f in model.features:
        k = len(f.bins) + 1
        i1, i2 = f.indices(first[f.name].to_numpy()), f.indices(second[f.name].to_numpy())
        out["features"][f.name] = psi(i1, i2, np.arange(k + 1) - 0.5)
    return out


def bands(score) -> list[dict]:
    s = np.asarray(score)
    edges = [lo for lo, _ in SESAME_BANDS] + [math.inf]
    return [
        {"band": label, "n": int(((s >= lo) & (s < hi)).sum()),
         "share": float(((s >= lo) & (s < hi)).mean()) if len(s) else 0.0}
        for (lo, label), hi in zip(SESAME_BANDS, edges[1:], strict=True)
    ]  # fmt: skip


def fairness(y, score, p_bad, groups: pd.DataFrame, threshold: float = THRESHOLD) -> dict:
    """Per group of each attribute in `groups` (rows aligned with y): n, approval rate at
    `threshold`, its ratio to the best-approved group, mean score, default rate, default
    rate among the approved, and AUC — from fairlearn's MetricFrame."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    y, score = np.asarray(y, int), np.asarray(score, float)

    def auc(yt, ys):
        return float(roc_auc_score(yt, -ys)) if len(np.unique(yt)) == 2 else float("nan")

    def approved_default_rate(yt, ys):
        m = ys >= threshold
        return float(yt[m].mean()) if m.any() else float("nan")

    metrics = {
        "n": lambda yt, ys: len(yt),
        "approval_rate": lambda yt, ys: float(np.mean(ys >= threshold)),
        "mean_score": lambda yt, ys: float(np.mean(ys)),
        "default_rate": lambda yt, ys: float(np.mean(yt)),
        "approved_default_rate": approved_default_rate,
        "auc": auc,
    }
    out = {"threshold": threshold, "min_group": MIN_GROUP, "by": {}}
    for attr in ATTRIBUTES:
        if attr not in groups.columns:
            continue
        values = groups[attr].fillna("unknown").astype(str).to_numpy()
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=score,
                            sensitive_features={attr: values})
        table = frame.by_group.reset_index()
        compared = table[table["n"] >= MIN_GROUP]
        best = compared["approval_rate"].max() if len(compared) else float("nan")
        rows = []
        for r in table.to_dict("records"):
            ratio = r["approval_rate"] / best if r["n"] >= MIN_GROUP and best > 0 else None
            rows.append({"group": str(r[attr]), **{k: _num(r[k]) for k in metrics},
                         "n": int(r["n"]),
                         "approval_ratio": ratio,
                         "four_fifths": None if ratio is None else ratio >= 0.8})
        out["by"][attr] = rows
    return out


def _num(v) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def build(
    model: ScoreModel,
    *,
    train: pd.DataFrame,
    y_train,
    test: pd.DataFrame,
    y_test,
    periods: tuple[tuple[date, pd.DataFrame], tuple[date, pd.DataFrame]] | None = None,
    demographics: pa.Table | pd.DataFrame | None = None,
    threshold: float = THRESHOLD,
) -> dict:
    """The card as a dict. `test` needs subject_id to be joined to `demographics`
    (subject_id, sex, age_band, district); `periods` are two (day, features) samples."""
    p_test, s_test = model.probability(test), model.score(test)
    card = {
        "meta": {k: v for k, v in model.meta.items() if k != "card"},
        "scale": {**model.scale.__dict__, "threshold": threshold,
                  "odds_at_threshold": model.scale.odds_at(threshold)},
        "data": {"train": {"n": int(len(train)), "defaults": int(np.sum(y_train)),
                           "default_rate": float(np.mean(y_train))},
                 "test": {"n": int(len(test)), "defaults": int(np.sum(y_test)),
                          "default_rate": float(np.mean(y_test))}},
        "features": [
            {"name": f.name, "label": f.label, "trend": f.trend, "iv": f.iv,
             "coefficient": f.coefficient, "bins": len(f.bins), "best_points": f.best_points(),
             "worst_points": min(b.points for b in [*f.bins, f.missing] if b.count > 0)}
            for f in model.features
        ],
        "dropped": model.dropped,
        "binning": {
            f.name: [{"bin": b.label, "count": b.count, "event_rate": b.event_rate,
                      "woe": b.woe, "points": b.points} for b in [*f.bins, f.missing]]
            for f in model.features
        },
        "discrimination": {
            "train": discrimination(y_train, model.probability(train)),
            "test": discrimination(y_test, p_test),
        },
        "calibration": calibration(y_test, p_test, s_test),
        "bands": bands(s_test),
    }  # fmt: skip
    if periods:
        (d1, x1), (d2, x2) = periods
        card["stability"] = {"from": d1.isoformat(), "to": d2.isoformat(), "n_from": len(x1),
                             "n_to": len(x2), **stability(model, x1, x2)}
    if demographics is not None and "subject_id" in test.columns:
        demo = demographics.to_pandas() if isinstance(demographics, pa.Table) else demographics
        groups = test[["subject_id"]].merge(demo, on="subject_id", how="left")
        card["fairness"] = fairness(y_test, s_test, p_test, groups, threshold)
    return card


# -- rendering ------------------------------------------------------------------------------


def sections(card: dict) -> list[tuple[str, str, list[str], list[list]]]:
    """(title, text, header, rows) for each part of the card, in reading order."""
    m, sc, data = card["meta"], card["scale"], card["data"]
    out = []
    intro = (
        f"Trained on {m.get('as_of', '?')} from features read on {m.get('feature_day', '?')}"
        f" under rulebook {m.get('rulebook', {}).get('id', '?')} "
        f"v{m.get('rulebook', {}).get('version', '?')}. Outcome: {m.get('outcome', '?')}. "
        f"Scale: {sc['base_score']:g} points at odds {sc['base_odds']:g}:1, {sc['pdo']:g} "
        f"points to double the odds, clipped to {sc['lo']:g}–{sc['hi']:g}; the perk line "
        f"{sc['threshold']:g} stands for odds {sc['odds_at_threshold']:.1f}:1."
    )
    out.append(("Data", intro, ["sample", "n", "defaults", "default rate"],
                [[k, data[k]["n"], data[k]["defaults"], data[k]["default_rate"]]
                 for k in ("train", "test")]))
    out.append(("Features", "Trend: the declared direction of the default rate.",
                ["feature", "meaning", "trend", "IV", "coefficient", "bins", "points range"],
                [[f["name"], f["label"], f["trend"], f["iv"], f["coefficient"], f["bins"],
                  f"{f['worst_points']:.1f}–{f['best_points']:.1f}"] for f in card["features"]]
                + [[d["name"], "left out: " + d["reason"], "", d["iv"], "", "", ""]
                   for d in card["dropped"]]))
    for name, rows in card["binning"].items():
        out.append((f"Bins of {name}", "", ["bin", "count", "default rate", "WoE", "points"],
                    [[r["bin"], r["count"], r["event_rate"], r["woe"], r["points"]]
                     for r in rows]))
    d = card["discrimination"]
    out.append(("Discrimination", "", ["sample", "AUC", "Gini", "KS", "n"],
                [[k, d[k]["auc"], d[k]["gini"], d[k]["ks"], d[k]["n"]] for k in ("train", "test")]))
    out.append(("Calibration", "Held-out sample, by tenths of the predicted default rate "
                "(people with equal scores stay in one group).",
                ["scores", "n", "predicted", "observed"],
                [[f"{r['score_min']:.0f}–{r['score_max']:.0f}", r["n"], r["predicted"],
                  r["observed"]] for r in card["calibration"]]))
    out.append(("Score bands", "Held-out sample, Sesame Credit's announced bands.",
                ["band", "n", "share"], [[b["band"], b["n"], b["share"]] for b in card["bands"]]))
    if "stability" in card:
        st = card["stability"]
        out.append(("Stability", f"PSI from {st['from']} ({st['n_from']} people) to "
                    f"{st['to']} ({st['n_to']} people).", ["what", "PSI"],
                    [["score", st["score"]]] + [[k, v] for k, v in st["features"].items()]))
    if "fairness" in card:
        fa = card["fairness"]
        for attr, rows in fa["by"].items():
            out.append((f"Fairness by {attr}",
                        f"Approval: a score of {fa['threshold']:g} or more. Ratio: approval "
                        f"rate over the best group's (groups of {fa['min_group']} or more).",
                        ["group", "n", "approval", "ratio", "4/5 rule", "mean score",
                         "default rate", "default rate approved", "AUC"],
                        [[r["group"], r["n"], r["approval_rate"], r["approval_ratio"],
                          {True: "passes", False: "FAILS", None: ""}[r["four_fifths"]],
                          r["mean_score"], r["default_rate"], r["approved_default_rate"],
                          r["auc"]] for r in rows]))
    return out


def _cell(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def render_markdown(card: dict) -> str:
    """The card as Markdown."""
    m = card["meta"]
    lines = [f"# Scorecard model card{' v' + str(m['version']) if 'version' in m else ''}", ""]
    for title, text, header, rows in sections(card):
        lines += [f"## {title}", ""]
        if text:
            lines += [text, ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in r) + " |"
                  for r in rows]
        lines.append("")
    return "\n".join(lines)


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:.2em .6em;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"""


def render_html(card: dict) -> str:
    """The card as one self-contained HTML page."""
    m = card["meta"]
    title = f"Scorecard model card{' v' + str(m['version']) if 'version' in m else ''}"
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style><h1>{html.escape(title)}</h1>"]
    for name, text, header, rows in sections(card):
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if text:
            parts.append(f"<p>{html.escape(text)}</p>")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r)
                       + "</tr>" for r in rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(parts)
