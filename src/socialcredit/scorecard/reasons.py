"""Reason codes: the factors that lowered a score, in words a person understands.

For each feature of the card, the points lost are the most points that feature gives
anyone (over the bins that held training data) minus the points this person got; the
features that cost the most are the reasons, at most four (as US credit scores give them
under FCRA §609(f) and Regulation B's adverse-action notice). A feature that cost nothing
is never a reason. The words come from the person's own value ("3 months of bank arrears
in the last 12 months"), never from other people's data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from socialcredit.scorecard.features import FEATURE_NAMES
from socialcredit.scorecard.model import FeatureCard, ScoreModel

TOP = 4
SHOP_CONSENT_HINT = " (shop records count only while you consent to the shop source)"


def _n(v: float, one: str, many: str) -> str:
    n = int(v) if float(v).is_integer() else v
    return f"{n:g} {one if n == 1 else many}"


def _tenure(v) -> str:
    if _missing(v):
        return "no record on file yet, so there is no history to go on"
    return f"the length of your file's history: your first record is {_n(v, 'day', 'days')} old"


def _on_time(v) -> str:
    text = f"{_n(v, 'on-time payment', 'on-time payments')} to shops in the last 12 months"
    return text + (SHOP_CONSENT_HINT if v == 0 else "")


WORDS: dict[str, Callable[[float], str]] = {
    "arrears_months_12m": lambda v: f"{_n(v, 'month', 'months')} of bank arrears in the last "
                                    "12 months",
    "arrears_months_older": lambda v: f"{_n(v, 'month', 'months')} of bank arrears from more "
                                      "than 12 months ago, still on file",
    "judgements": lambda v: f"{_n(v, 'court judgement or loan breach', 'court judgements or loan breaches')} on file",  # noqa: E501
    "utility_arrears": lambda v: f"{_n(v, 'unpaid utility bill', 'unpaid utility bills')} on file",
    "tenure_days": _tenure,
    "volunteer_hours_12m": lambda v: f"{_n(v, 'hour', 'hours')} of volunteering in the last "
                                     "12 months",
    "blood_donations_24m": lambda v: f"{_n(v, 'blood donation', 'blood donations')} in the "
                                     "last 24 months",
    "on_time_payments_12m": _on_time,
    "shop_misconduct": lambda v: f"{_n(v, 'shop misconduct finding', 'shop misconduct findings')} on file",  # noqa: E501
    "traffic_offences": lambda v: f"{_n(v, 'traffic offence', 'traffic offences')} on file",
}  # fmt: skip


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def code_of(name: str) -> str:
    """A stable reason code per feature: SC01, SC02, ... in the order of FEATURES."""
    if name in FEATURE_NAMES:
        return f"SC{FEATURE_NAMES.index(name) + 1:02d}"
    return "SC99"


def words(f: FeatureCard, value) -> str:
    """The plain-words reason for feature `f` at the person's `value`."""
    if f.name in WORDS:
        return WORDS[f.name](value)
    shown = "missing" if _missing(value) else value
    return f"{f.label or f.name.replace('_', ' ')}: {shown} ({f.bin_label([value])[0]})"


def reasons(model: ScoreModel, row: Mapping, top: int = TOP) -> list[dict]:
    """The top `top` factors that lowered this person's score, most costly first (ties in
    the card's order of features)."""
    values = {f.name: [_value(row.get(f.name))] for f in model.features}
    return reasons_table(model, pd.DataFrame(values), top)[0]


def reasons_table(model: ScoreModel, X: pd.DataFrame, top: int = TOP) -> list[list[dict]]:
    """`reasons` for every row of X at once (the points are computed once, as a matrix)."""
    if not model.features:
        return [[] for _ in range(len(X))]
    got = model.points(X)
    best = np.array([f.best_points() for f in model.features])
    lost = best[None, :] - got
    columns = [X[f.name].to_numpy() for f in model.features]
    out = []
    for i in range(len(X)):
        order = [j for j in np.argsort(-lost[i], kind="stable") if lost[i, j] > 1e-9][:top]
        found = []
        for j in order:
            f = model.features[j]
            value = _value(columns[j][i])
            found.append({"code": code_of(f.name), "feature": f.name,
                          "value": None if _missing(value) else _plain(value),
                          "points": float(got[i, j]), "points_lost": float(lost[i, j]),
                          "text": words(f, value)})
        out.append(found)
    return out


def _value(v):
    return float("nan") if v is None else v


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def notice(score: float, found: list[dict], model: ScoreModel, how_to_object: str = "") -> str:
    """The adverse-action notice: the score, the scale, the key factors and the rights."""
    sc = model.scale
    lines = [f"Your commercial credit score is {score:.0f} on a scale of {sc.lo:.0f} to "
             f"{sc.hi:.0f}; higher means a lower estimated chance of default."]
    if found:
        lines.append("The main factors that lowered it:")
        lines += [f"  {i}. {r['text']}" for i, r in enumerate(found, 1)]
    else:
        lines.append("No factor lowered it: it is the highest this scorecard gives.")
    lines.append("You may see every record behind these factors (subject show) and object "
                 "to any that is wrong; a record removed on objection no longer counts. "
                 "You may withdraw your consent, and the score is then deleted.")
    if how_to_object:
        lines.append(how_to_object)
    return "\n".join(lines)
