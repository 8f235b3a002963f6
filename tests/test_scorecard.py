"""The commercial scorecard (issue 9): features, binning, scale, reasons, consent, accuracy."""

from __future__ import annotations

import importlib.util
import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from socialcredit.engine.file import Consent, File, Objection, RecordVersion
from socialcredit.engine.tables import tables_from_files
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.scorecard import card as cards
from socialcredit.scorecard.apply import score_file, score_population
from socialcredit.scorecard.features import FEATURE_NAMES, feature_table
from socialcredit.scorecard.model import (
    Bin,
    FeatureCard,
    FeatureSpec,
    ModelError,
    Scale,
    ScoreModel,
    fit,
    fit_optbinning,
    from_optbinning,
)
from socialcredit.scorecard.reasons import notice, reasons

D = date(2026, 3, 1)
RB = load_rulebook(default_rulebook_text())


def days_before(n: int) -> date:
    return D - timedelta(days=n)


def rec(source, rid, type_, occ, **kw) -> RecordVersion:
    return RecordVersion(source, rid, type_, occ, **kw)


GRANT = Consent(None, "grant", date(2020, 1, 1))


# -- features ------------------------------------------------------------------------------


def hand_file() -> File:
    """One file exercising every rule of what counts (default rulebook, day D)."""
    return File("s1", records=(
        rec("bank", "a1", "finance.bank_arrears", days_before(100), quantity=3),
        rec("bank", "a2", "finance.bank_arrears", days_before(400), quantity=2),
        # corrected on D-10 from 4 to 1 month: the correction applies on D
        rec("bank", "a3", "finance.bank_arrears", days_before(30), quantity=4,
            superseded_on=days_before(10)),
        rec("bank", "a3", "finance.bank_arrears", days_before(30), quantity=1, version=2,
            ingested_on=days_before(10)),
        rec("bank", "a4", "finance.bank_arrears", days_before(50), quantity=5, status="revoked"),
        rec("bank", "a5", "finance.bank_arrears", days_before(60), quantity=7),  # objected
        rec("bank", "a6", "finance.bank_arrears", days_before(70), quantity=9,
            link_confidence=0.5),  # a weak link joins no file
        rec("bank", "a7", "finance.bank_arrears", D + timedelta(days=1), quantity=6),  # future
        rec("bank", "a8", "finance.bank_arrears", date(2020, 1, 1), quantity=8),  # expired (5y)
        rec("court", "j1", "court.dishonest_debtor", days_before(700), case_no="c1"),
        rec("court", "j2", "court.judgment_breach", days_before(20)),
        rec("bank", "p1", "finance.private_lending_breach", days_before(900)),
        rec("utility", "u1", "utility.fee_arrears", days_before(300)),
        rec("utility", "u2", "utility.fee_arrears", days_before(1200)),  # expired (3y)
        rec("volunteer", "v1", "volunteer.hours", days_before(10), quantity=4),
        rec("volunteer", "v2", "volunteer.hours", days_before(200), quantity=2.5),
        rec("volunteer", "v3", "volunteer.hours", days_before(500), quantity=6),  # > 12 months
        rec("civic", "b1", "civic.blood_donation", days_before(100)),
        rec("civic", "b2", "civic.blood_donation", days_before(700)),
        rec("civic", "b3", "civic.blood_donation", days_before(800)),  # > 24 months
        rec("shop", "o1", "shop.on_time_payment", days_before(40)),
        rec("shop", "o2", "shop.on_time_payment", days_before(41)),
        rec("shop", "m1", "shop.untrustworthy_other", days_before(90), points=-10),
        rec("traffic", "t1", "traffic.speeding", days_before(200)),
        rec("traffic", "t2", "traffic.red_light", days_before(400)),  # expired (1y)
        rec("traffic", "t3", "traffic.drunk_driving", days_before(400)),
    ), consents=(GRANT,), objections=(
        Objection("o1", "bank", "a5", days_before(40), days_before(25), "accepted",
                  days_before(30)),
    ))  # fmt: skip


def test_features_equal_hand_counts():
    row = feature_table(tables_from_files([hand_file()]), RB, D).to_pylist()[0]
    assert row["consented"] is True
    assert row["arrears_months_12m"] == 3 + 1  # a1 and the corrected a3
    assert row["arrears_months_older"] == 2  # a2; a8 has expired
    assert row["judgements"] == 3
    assert row["utility_arrears"] == 1
    assert row["tenure_days"] == (D - date(2020, 1, 1)).days  # expired records still date it
    assert row["volunteer_hours_12m"] == 6.5
    assert row["blood_donations_24m"] == 2
    assert row["on_time_payments_12m"] == 0  # shop needs consent to the shop source
    assert row["shop_misconduct"] == 0
    assert row["traffic_offences"] == 2  # speeding and drunk driving; the red light expired


def test_shop_features_count_with_shop_consent_and_windows_move_with_the_day():
    f = hand_file()
    f = File(f.subject_id, f.records, (GRANT, Consent("shop", "grant", days_before(5))),
             f.objections)
    tables = tables_from_files([f])
    row = feature_table(tables, RB, D).to_pylist()[0]
    assert (row["on_time_payments_12m"], row["shop_misconduct"]) == (2, 1)
    before = feature_table(tables, RB, days_before(6)).to_pylist()[0]
    assert (before["on_time_payments_12m"], before["shop_misconduct"]) == (0, 0)
    # a year later a1 (D-100) has left the 12-month window and joined the older arrears
    later = feature_table(tables, RB, D + timedelta(days=300)).to_pylist()[0]
    assert later["arrears_months_12m"] == 1 + 6  # a3 and the then-past a7
    assert later["arrears_months_older"] == 3 + 2


def test_features_on_event_days_match_features_read_on_each_day():
    from socialcredit.engine import duckdb as engine
    from socialcredit.scorecard.features import event_days_sql, prepare, run_features

    tables = tables_from_files([hand_file()])
    con = engine.connect(tables)
    plan = prepare(con, RB, D)
    con.execute(f"CREATE TEMP TABLE ev AS {event_days_sql(plan, 'subjects')}")
    days = [r[1] for r in con.execute("SELECT * FROM ev ORDER BY d").fetchall()]
    assert D in days and days_before(100) in days
    assert date(2021, 1, 1) in days  # a8 (2020-01-01) leaves the 12-month window
    timeline = run_features(con, RB, D, pairs="ev").to_pylist()
    con.close()
    # each day reads the records as known on D (a3's correction of D-10 included), so
    # compare the days since that correction with a plain reading on the day
    on = {r["d"]: r for r in timeline}
    assert date(2020, 1, 1) in on and on[date(2020, 1, 1)]["consented"]  # GRANT's day
    assert on[days_before(100)]["arrears_months_12m"] == 3 + 2  # a1, and a2 still in window
    recent = [r for r in timeline if r["d"] >= days_before(10)]
    assert len(recent) == 2
    for row in recent:
        alone = feature_table(tables, RB, row["d"]).to_pylist()[0]
        for name in ("arrears_months_12m", "judgements", "traffic_offences", "tenure_days"):
            assert row[name] == alone[name], (row["d"], name)


def test_a_window_ends_on_the_day_of_occurrence_plus_its_months():
    f = File("leap", records=(
        rec("bank", "a1", "finance.bank_arrears", date(2024, 2, 29), quantity=2),
    ), consents=(GRANT,))  # fmt: skip
    t = tables_from_files([f])

    def months_12(day):
        return feature_table(t, RB, day).to_pylist()[0]["arrears_months_12m"]

    # 2024-02-29 + 12m = 2025-02-28: the first day it is out of the window
    assert (months_12(date(2025, 2, 27)), months_12(date(2025, 2, 28))) == (2, 0)


def test_subject_without_records_has_zero_counts_and_no_tenure():
    t = tables_from_files([File("empty", consents=(GRANT,))])
    row = feature_table(t, RB, D).to_pylist()[0]
    assert row["tenure_days"] is None
    assert all(row[n] == 0 for n in FEATURE_NAMES if n != "tenure_days")


# -- binning and scale ---------------------------------------------------------------------


def test_binning_is_monotonic_where_declared():
    rng = np.random.default_rng(7)
    n = 2500
    up = rng.poisson(1.5, n).astype(float)
    down = rng.uniform(0, 100, n)
    valley = rng.uniform(-3, 3, n)  # truly U-shaped, declared ascending
    logit = -2.2 + 0.5 * up - 0.015 * down + 0.25 * valley**2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"up": up, "down": down, "valley": valley})
    specs = [FeatureSpec("up", "ascending"), FeatureSpec("down", "descending"),
             FeatureSpec("valley", "ascending")]
    model = fit(X, y, specs, min_iv=0.0, min_bin_share=0.05)
    by = {f.name: f for f in model.features}
    for name, sign in (("up", 1), ("down", -1), ("valley", 1)):
        rates = [b.event_rate for b in by[name].bins]
        assert len(rates) >= 2, name
        assert all(sign * (b - a) >= -1e-12 for a, b in zip(rates, rates[1:], strict=False)), (
            name, rates)
        # and the points fall as the default rate rises
        pts = [b.points for b in by[name].bins]
        assert all(sign * (b - a) <= 1e-9 for a, b in zip(pts, pts[1:], strict=False)), name


def test_scale_maps_odds_exactly_onto_350_950():
    s = Scale()  # 600 at 20:1, 40 points to double the odds
    factor = 40 / math.log(2)  # 57.70780...
    offset = 600 - factor * math.log(20)  # 427.12288...
    assert s.factor == pytest.approx(57.707801635558535, abs=1e-12)
    assert s.offset == pytest.approx(427.1228762045055, abs=1e-9)
    assert s.offset == pytest.approx(offset)
    assert s.score(20) == pytest.approx(600)
    assert s.score(40) == pytest.approx(640)
    assert s.score(10) == pytest.approx(560)
    assert s.score(20 * 2 ** (50 / 40)) == pytest.approx(650)  # the perk line: 47.57:1
    assert s.odds_at(650) == pytest.approx(47.568284600108839)
    assert s.score_for_probability(1 / 21) == pytest.approx(600)  # odds 20:1
    # the ends of the scale: exactly 350 and 950, and nothing beyond
    assert s.score(20 * 2 ** (350 / 40)) == pytest.approx(950)
    assert s.score(20 * 2 ** (-250 / 40)) == pytest.approx(350)
    assert s.score(1e12) == 950 and s.score(1e-12) == 350
    assert s.score_for_probability(np.array([0.999999, 1e-9])).tolist() == [350, 950]


def toy_model() -> ScoreModel:
    """A hand-built card: arrears (200/160/-200 points), judgements (200/140), volunteering
    (180/200), tenure (190, or 210 for no record at all)."""
    def feat(name, splits, points, missing=0.0, missing_count=0):
        bins = [Bin(f"bin{i}", 100, 0.05, 0.0, p) for i, p in enumerate(points)]
        return FeatureCard(name, name, False, "ascending", -1.0, 0.5, splits, bins,
                           Bin("Missing", missing_count, 0.0, 0.0, missing))
    return ScoreModel(Scale(), -3.0, [
        feat("arrears_months_12m", [1.0, 3.0], [200.0, 160.0, -200.0]),
        feat("judgements", [1.0], [200.0, 140.0]),
        feat("volunteer_hours_12m", [1.0], [180.0, 200.0]),
        feat("tenure_days", [], [190.0], missing=210.0, missing_count=50),
    ])  # fmt: skip


def test_fit_refuses_an_outcome_without_defaults():
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ModelError, match="needs both goods and defaults"):
        fit(X, [0, 0, 0], [FeatureSpec("x")])


def test_model_points_sum_to_the_clipped_score():
    m = toy_model()
    X = pd.DataFrame({"arrears_months_12m": [0.0, 1.0, 99.0], "judgements": [0.0, 1.0, 5.0],
                      "volunteer_hours_12m": [2.0, 0.0, 0.0],
                      "tenure_days": [np.nan, 500.0, 100.0]})
    assert m.raw_score(X).tolist() == [810.0, 670.0, 310.0]
    assert m.score(X).tolist() == [810.0, 670.0, 350.0]  # clipped at the floor
    p = m.probability(X)
    assert np.allclose(m.scale.raw((1 - p) / p), m.raw_score(X))


def test_stored_card_scores_like_optbinning_and_round_trips_json():
    g = german()
    sc, model = g["sc"], g["model"]
    test = g["test"]
    assert np.allclose(model.raw_score(test), sc.score(test), atol=1e-9)
    assert np.allclose(model.probability(test), sc.predict_proba(test)[:, 1], atol=1e-12)
    back = ScoreModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(back.score(test), model.score(test))
    assert {f.name for f in model.features}.isdisjoint(g["bench"].PROTECTED)


# -- reasons -------------------------------------------------------------------------------


def test_reason_codes_name_the_factors_that_cost_points():
    m = toy_model()
    got = reasons(m, {"arrears_months_12m": 3, "judgements": 0, "volunteer_hours_12m": 0,
                      "tenure_days": 400})
    # ties keep the card's order
    assert [r["feature"] for r in got] == ["arrears_months_12m", "volunteer_hours_12m",
                                           "tenure_days"]
    assert [r["points_lost"] for r in got] == [400.0, 20.0, 20.0]
    assert got[0]["text"] == "3 months of bank arrears in the last 12 months"
    assert got[0]["code"] == "SC01"
    assert got[1]["text"] == "0 hours of volunteering in the last 12 months"
    assert got[2]["value"] == 400
    assert "judgements" not in {r["feature"] for r in got}  # cost nothing: never a reason

    one = reasons(m, {"arrears_months_12m": 1, "judgements": 2, "volunteer_hours_12m": 5,
                      "tenure_days": None})
    assert [r["text"] for r in one] == ["2 court judgements or loan breaches on file",
                                        "1 month of bank arrears in the last 12 months"]
    assert reasons(m, {"arrears_months_12m": 0, "judgements": 0, "volunteer_hours_12m": 9,
                       "tenure_days": None}) == []
    assert len(reasons(m, {"arrears_months_12m": 9, "judgements": 9, "volunteer_hours_12m": 0,
                           "tenure_days": 1}, top=2)) == 2

    text = notice(390, got, m)
    assert "390 on a scale of 350 to 950" in text
    assert "1. 3 months of bank arrears in the last 12 months" in text


def test_reasons_from_a_file_through_the_features():
    f = File("s2", records=(
        rec("bank", "a1", "finance.bank_arrears", days_before(20), quantity=2),
        rec("court", "j1", "court.judgment_breach", days_before(200)),
    ), consents=(GRANT,))  # fmt: skip
    r = score_file(f, RB, D, toy_model())
    assert r["score"] == 160 + 140 + 180 + 190
    assert [x["text"] for x in r["reasons"]] == [
        "1 court judgement or loan breach on file",
        "2 months of bank arrears in the last 12 months",
        "0 hours of volunteering in the last 12 months",
        "the length of your file's history: your first record is 200 days old",
    ]


# -- consent -------------------------------------------------------------------------------


def test_no_score_without_consent_and_none_after_revoking():
    records = (rec("bank", "a1", "finance.bank_arrears", date(2025, 1, 5)),)
    never = File("never", records=records)
    shop_only = File("shop-only", records=records, consents=(Consent("shop", "grant",
                                                                     date(2025, 1, 1)),))
    revoked = File("revoked", records=records, consents=(
        Consent(None, "grant", date(2025, 1, 1)), Consent(None, "revoke", date(2025, 7, 1))))
    m = toy_model()
    assert score_file(never, RB, date(2025, 6, 1), m) is None
    assert score_file(shop_only, RB, date(2025, 6, 1), m) is None  # consent to one source only
    assert score_file(revoked, RB, date(2024, 12, 31), m) is None  # before the grant
    assert score_file(revoked, RB, date(2025, 6, 1), m)["score"] == 160 + 200 + 180 + 190
    assert score_file(revoked, RB, date(2025, 7, 1), m) is None  # revoked that day
    t = score_population(tables_from_files([never, shop_only, revoked]), RB,
                         date(2025, 6, 1), m)
    assert t["subject_id"].to_pylist() == ["revoked"]
    assert score_population(tables_from_files([never, shop_only, revoked]), RB,
                            date(2025, 8, 1), m).num_rows == 0

    # on a timeline (the days a score can change), consent is read on each day
    from socialcredit.engine import duckdb as engine
    from socialcredit.scorecard.features import event_days_sql, prepare, run_features

    con = engine.connect(tables_from_files([revoked]))
    plan = prepare(con, RB, date(2025, 8, 1))
    con.execute(f"CREATE TEMP TABLE ev AS {event_days_sql(plan, 'subjects')}")
    rows = run_features(con, RB, date(2025, 8, 1), pairs="ev").to_pylist()
    con.close()
    assert [(r["d"], r["consented"]) for r in rows] == [
        (date(2025, 1, 1), True), (date(2025, 1, 5), True), (date(2025, 7, 1), False),
        (date(2025, 8, 1), False)]


# -- accuracy on real outcomes and the card on the city ------------------------------------


_GERMAN: dict = {}


def german() -> dict:
    """bench/german_credit.py's data, split and features, fitted once for this module."""
    if not _GERMAN:
        path = Path(__file__).resolve().parents[1] / "bench" / "german_credit.py"
        spec = importlib.util.spec_from_file_location("german_credit_bench", path)
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        df = bench.load()
        train, test = bench.split(df)
        specs = bench.specs(df)
        y = (train[bench.TARGET] == "bad").astype(int).to_numpy()
        sc = fit_optbinning(train, y, specs, Scale(), min_bin_share=0.05)
        _GERMAN.update(bench=bench, sc=sc, model=from_optbinning(sc, specs, Scale()),
                       test=test, y_test=(test[bench.TARGET] == "bad").astype(int).to_numpy())
    return _GERMAN


def test_german_credit_held_out_auc_reaches_0_80():
    g = german()
    assert len(g["test"]) == 300 and g["y_test"].sum() == 90  # the fixed 70/30 split
    auc = cards.discrimination(g["y_test"], g["model"].probability(g["test"]))["auc"]
    assert auc >= 0.80, f"auc_test={auc:.3f}"


def test_card_on_the_city_and_a_stored_model(tmp_path):
    from socialcredit.city import generate
    from socialcredit.scorecard import store as models
    from socialcredit.scorecard.train import tables_from_city, train
    from socialcredit.simulate import demographics_table
    from socialcredit.store import Store

    city = generate(6000, seed=3)
    tables = tables_from_city(city)
    res = city.residents
    demo = demographics_table(res.append_column("subject_id", res["national_id"]), D)
    model, card = train(tables, lambda d: RB, date(2026, 6, 30), demographics=demo)
    assert card["data"]["train"]["defaults"] > 0
    assert card["discrimination"]["test"]["auc"] > 0.6
    assert {"calibration", "stability", "fairness", "binning", "bands"} <= card.keys()
    assert set(card["fairness"]["by"]) == {"sex", "age_band", "district"}
    assert card["stability"]["score"] >= 0
    md, page = cards.render_markdown(card), cards.render_html(card)
    assert "## Discrimination" in md and "Fairness by district" in md
    assert page.startswith("<!doctype html>") and "<table>" in page

    with Store.open(f"sqlite:///{tmp_path / 's.sqlite'}") as store:
        assert models.save(store, model) == 1
        assert models.save(store, model) == 2
        assert models.versions(store) == [1, 2]
        back = models.load(store)
        assert back.meta["version"] == 2 and back.meta["card"]["meta"]["version"] == 2
        x = feature_table(tables, RB, date(2026, 6, 30)).to_pandas()
        assert np.array_equal(back.score(x), model.score(x))
        with pytest.raises(ModelError, match="no scorecard model version 7"):
            models.load(store, 7)
