"""The scorecard: optimal monotonic binning, logistic regression, points on the 350–950 scale.

Fitting uses optbinning (`BinningProcess` + `Scorecard` around scikit-learn's
`LogisticRegression`); the fitted card is then kept as plain data — the bins of each
feature and the points of each bin — so that scoring, storing (JSON) and explaining need
nothing but this module and numpy, and anyone can read the card that scored them.

The scale (`Scale`): score = offset + factor × ln(odds), odds = P(good) / P(bad), with
factor = PDO / ln 2 and offset = base_score − factor × ln(base_odds); then clipped to
350..950, Sesame Credit's range. The defaults — 600 points at odds of 20:1 (a 4.8 %
chance of default) and 40 points to double the odds — put 650 at 47.6:1 (2.1 %), 700 at
113:1 (0.9 %), the floor 350 at 0.26:1 (79 %) and the ceiling 950 at 8,600:1 (0.01 %),
so the range spans odds from near-certain default to near-certain repayment. A project
calibration, not a published figure: Ant does not publish its formula.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

FORMAT = 1


class ModelError(ValueError):
    """The scorecard cannot be fitted or read; the message says why and what would help."""


@dataclass(frozen=True)
class Scale:
    """How odds become points: `base_score` at `base_odds`, `pdo` more per doubling."""

    pdo: float = 40.0
    base_score: float = 600.0
    base_odds: float = 20.0  # good:bad
    lo: float = 350.0
    hi: float = 950.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def raw(self, odds):
        """Points before clipping for good:bad `odds` (a number or a numpy array)."""
        return self.offset + self.factor * np.log(odds)

    def score(self, odds):
        """The score on the scale for good:bad `odds`: raw points clipped to lo..hi."""
        return np.clip(self.raw(odds), self.lo, self.hi)

    def score_for_probability(self, p_bad):
        """The score for a probability of default."""
        p = np.asarray(p_bad, dtype=float)
        return self.score((1.0 - p) / p)

    def odds_at(self, score: float) -> float:
        """The good:bad odds a (raw) score stands for: the inverse of `raw`."""
        return math.exp((score - self.offset) / self.factor)


@dataclass(frozen=True)
class FeatureSpec:
    """A model input: `trend` is optbinning's `monotonic_trend` for the default rate
    (ascending: more of it, more defaults), or None to let the binning choose."""

    name: str
    trend: str | None = "auto_asc_desc"
    categorical: bool = False
    label: str = ""


@dataclass
class Bin:
    label: str
    count: int
    event_rate: float
    woe: float
    points: float


@dataclass
class FeatureCard:
    name: str
    label: str
    categorical: bool
    trend: str | None
    coefficient: float
    iv: float
    splits: list  # numeric: the cut points; categorical: a list of categories per bin
    bins: list[Bin]  # the regular bins, in order
    missing: Bin  # missing values (and, for a categorical, categories never seen)

    def indices(self, values) -> np.ndarray:
        """Bin index of each value; len(bins) stands for the missing bin."""
        k = len(self.bins)
        if self.categorical:
            where = {c: i for i, cats in enumerate(self.splits) for c in cats}
            return np.array([where.get(None if _missing(v) else str(v), k) for v in values],
                            dtype=int)
        x = np.asarray(values, dtype=float)
        # optbinning's bins are [s_i, s_{i+1}): digitize with right=False matches them
        idx = np.digitize(np.nan_to_num(x, nan=0.0), np.asarray(self.splits, float), right=False)
        return np.where(np.isnan(x), k, idx)

    def points_of(self, values) -> np.ndarray:
        table = np.array([b.points for b in self.bins] + [self.missing.points])
        return table[self.indices(values)]

    def best_points(self) -> float:
        """The most points this feature gives anyone (over bins that held training data)."""
        seen = [b.points for b in [*self.bins, self.missing] if b.count > 0]
        return max(seen) if seen else 0.0

    def bin_label(self, values) -> list[str]:
        labels = [b.label for b in self.bins] + ["missing"]
        return [labels[i] for i in self.indices(values)]


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass
class ScoreModel:
    """A fitted scorecard as plain data: scale, intercept, and the binned features."""

    scale: Scale
    intercept: float  # of the logistic regression (log-odds of default)
    features: list[FeatureCard]
    dropped: list[dict] = field(default_factory=list)  # inputs the selection left out
    meta: dict = field(default_factory=dict)  # version, dates, rulebook, training summary

    # -- scoring -----------------------------------------------------------------------

    def points(self, X: pd.DataFrame) -> np.ndarray:
        """Points of each feature for each row: shape (rows, features)."""
        self._check_columns(X)
        return np.column_stack([f.points_of(X[f.name].to_numpy()) for f in self.features])

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The sum of the points, before clipping to the scale."""
        return self.points(X).sum(axis=1)

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """The score on the scale (350..950)."""
        return np.clip(self.raw_score(X), self.scale.lo, self.scale.hi)

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        """The model's probability of default (from the unclipped points)."""
        log_odds_good = (self.raw_score(X) - self.scale.offset) / self.scale.factor
        return 1.0 / (1.0 + np.exp(log_odds_good))

    def _check_columns(self, X: pd.DataFrame) -> None:
        missing = [f.name for f in self.features if f.name not in X.columns]
        if missing:
            raise ModelError(f"cannot score: the input lacks the model's features {missing}")

    # -- storing -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "scale": asdict(self.scale),
            "intercept": self.intercept,
            "features": [asdict(f) for f in self.features],
            "dropped": self.dropped,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ScoreModel:
        if d.get("format") != FORMAT:
            raise ModelError(f"unknown scorecard format {d.get('format')!r} — expected {FORMAT}")
        feats = []
        for f in d["features"]:
            f = dict(f)
            f["bins"] = [Bin(**b) for b in f["bins"]]
            f["missing"] = Bin(**f["missing"])
            feats.append(FeatureCard(**f))
        return cls(Scale(**d["scale"]), d["intercept"], feats, d.get("dropped", []),
                   d.get("meta", {}))


def fit(
    X: pd.DataFrame,
    y,
    specs: list[FeatureSpec],
    scale: Scale | None = None,
    *,
    min_iv: float = 0.02,
    min_bin_share: float = 0.01,
    C: float = 1.0,
) -> ScoreModel:
    """Fit a scorecard (see `fit_optbinning`) and keep it as plain data."""
    scale = scale or Scale()
    sc = fit_optbinning(X, y, specs, scale, min_iv=min_iv, min_bin_share=min_bin_share, C=C)
    return from_optbinning(sc, specs, scale)


def fit_optbinning(
    X: pd.DataFrame,
    y,
    specs: list[FeatureSpec],
    scale: Scale,
    *,
    min_iv: float = 0.02,
    min_bin_share: float = 0.01,
    C: float = 1.0,
):
    """Return a fitted optbinning `Scorecard`: bin each feature optimally under its
    declared monotonic trend, drop the features whose information value is below
    `min_iv` (a common rule of thumb: under 0.02 a feature is useless), fit a logistic
    regression on the weights of evidence and scale its points. `y` is 1 for a default
    (bad), 0 for good. A bin holds at least `min_bin_share` of the rows: count features
    such as months in arrears are zero for most people, and optbinning's default (5 %)
    would leave them a single bin."""
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) != 2:
        raise ModelError("cannot fit a scorecard: the outcome needs both goods and defaults, "
                         f"got only {sorted(set(y.tolist()))}")
    names = [s.name for s in specs]
    absent = [n for n in names if n not in X.columns]
    if absent:
        raise ModelError(f"cannot fit: the training data lacks the features {absent}")
    params = {
        s.name: {"monotonic_trend": s.trend, "min_prebin_size": min_bin_share,
                 "min_bin_size": min_bin_share}
        for s in specs if not s.categorical
    }
    bp = BinningProcess(
        names,
        categorical_variables=[s.name for s in specs if s.categorical] or None,
        binning_fit_params=params or None,
        selection_criteria={"iv": {"min": min_iv}} if min_iv > 0 else None,
    )
    sc = Scorecard(
        binning_process=bp,
        estimator=LogisticRegression(C=C, max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": scale.pdo, "odds": scale.base_odds,
                               "scorecard_points": scale.base_score},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's solver chatter; results are checked
        try:
            sc.fit(X[names], y, metric_missing="empirical", metric_special="empirical")
        except ValueError as e:
            bp_fitted = getattr(sc, "binning_process_", None)
            if bp_fitted is not None and len(bp_fitted.get_support(names=True)) == 0:
                raise ModelError(
                    f"cannot fit: no feature reaches the minimum information value {min_iv} "
                    "— more data, other features, or a lower min_iv") from e
            raise
    return sc


def from_optbinning(sc, specs: list[FeatureSpec], scale: Scale) -> ScoreModel:
    """The fitted optbinning `Scorecard` `sc` as plain data (its bins and points)."""
    bp = sc.binning_process_
    table = sc.table(style="detailed")
    selected = [str(n) for n in bp.get_support(names=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning's own pandas deprecations
        summary = bp.summary().set_index("name")
    by_name = {s.name: s for s in specs}
    feats = []
    for name in selected:
        spec = by_name[name]
        optb = bp.get_binned_variable(name)
        rows = table[table["Variable"] == name].reset_index(drop=True)
        bins = [_bin(r) for _, r in rows.iterrows()]
        regular, missing = bins[:-2], bins[-1]  # the last two rows: Special, Missing
        categorical = optb.dtype == "categorical"
        if categorical:
            splits = [[str(c) for c in cats] for cats in optb.splits]
        else:
            splits = [float(s) for s in optb.splits]
        feats.append(FeatureCard(
            name=name, label=spec.label, categorical=categorical, trend=spec.trend,
            coefficient=float(rows["Coefficient"].iloc[0]), iv=float(summary.loc[name, "iv"]),
            splits=splits, bins=regular, missing=missing,
        ))  # fmt: skip
    dropped = [
        {"name": n, "iv": float(summary.loc[n, "iv"]), "reason": "information value too low"}
        for n in (s.name for s in specs) if n not in selected
    ]
    intercept = float(np.ravel(sc.estimator_.intercept_)[0])
    return ScoreModel(scale, intercept, feats, dropped)


def _bin(r) -> Bin:
    return Bin(label=str(r["Bin"]), count=int(r["Count"]), event_rate=float(r["Event rate"]),
               woe=float(r["WoE"]), points=float(r["Points"]))
