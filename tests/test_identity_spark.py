"""Identity linkage on Spark (issues 3 and 7): Splink's Spark backend applies the stored
model as DuckDB does — the same record goes to the same subject with the same decision,
its probabilities equal within float noise, its explanation naming the same levels.

Marked `spark`: one JVM for the module (local mode, 2 cores), one small city linked once
on each engine from the same store and the same stored model.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from datetime import date

import duckdb
import pytest

import socialcredit.identity as L
from socialcredit.city import generate, write_city
from socialcredit.cli import main
from socialcredit.engine import spark as engine
from socialcredit.identity import model as m
from socialcredit.identity import spark as sp
from socialcredit.identity import store as S
from socialcredit.identity.tables import LINK_STATES
from socialcredit.ingest import ingest_file
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import Store

DAY = date(2026, 7, 1)


def _open(path) -> Store:
    return Store.open(f"sqlite:///{path}")


def _links(store: Store) -> dict[tuple[str, str], dict]:
    return {(r["source"], r["record_id"]): r for r in S.links_in_state(store, LINK_STATES)}


@pytest.fixture(scope="module")
def spark():
    """The process's Spark session (one JVM), which `link --engine spark` then uses too."""
    return engine.session(cores=2, memory="2g")


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """A small city ingested, its model trained and linked on DuckDB, one link judged
    wrong by an official; return the folder and the judged pair."""
    folder = tmp_path_factory.mktemp("city")
    paths = write_city(generate(1500, seed=5, density=3.3), folder)
    store = _open(folder / "base.sqlite")
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    for path in paths:
        ingest_file(store, path, as_of=DAY)
    L.link_batch(store, DAY)  # trains the model both engines then apply
    first = next(r for r in S.links_in_state(store, ["linked"]))
    judged = (first["source"], first["record_id"], first["subject_id"])
    L.judge(store, *judged, same=False, by="official-1", on=DAY)
    store.close()
    return folder, judged


@pytest.fixture(scope="module")
def linked(city, spark, tmp_path_factory):
    """Relink copies of the store on DuckDB and on Spark (through `link --engine spark`);
    return both stores' link rows and both reports."""
    folder, _ = city
    out = {}
    for engine_name in ("duckdb", "spark"):
        path = tmp_path_factory.mktemp(engine_name) / "store.sqlite"
        shutil.copy(folder / "base.sqlite", path)
        if engine_name == "duckdb":
            store = _open(path)
            report = L.link_batch(store, DAY, relink=True).to_json()
            store.close()
        else:
            report = _cli_json(
                "link", "--engine", "spark", "--relink", "--as-of", DAY.isoformat(),
                "--db", f"sqlite:///{path}",
            )  # fmt: skip
        store = _open(path)
        out[engine_name] = (_links(store), report)
        store.close()
    return out


def _cli_json(*args) -> dict:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        try:
            main([*args, "--json"])
        except SystemExit as e:
            assert not e.code, buffer.getvalue()
    return json.loads(buffer.getvalue())


@pytest.mark.spark
def test_duckdb_and_spark_link_each_record_alike(linked):
    duck, duck_report = linked["duckdb"]
    spark, spark_report = linked["spark"]
    assert duck_report["considered"] >= 200 and duck_report["linked"] >= 100  # not trivial
    assert spark_report | {"problems": None} == duck_report | {"problems": None}
    assert spark.keys() == duck.keys()
    for key, a in duck.items():
        b = spark[key]
        assert (b["state"], b["subject_id"], b["model_version"]) == (
            a["state"], a["subject_id"], a["model_version"],
        ), key  # fmt: skip
        for name in ("match_probability", "confidence"):
            x, y = a[name], b[name]
            assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (
                key, name, x, y,
            )  # fmt: skip
        why_a, why_b = a["explanation"], b["explanation"]
        assert [c["subject_id"] for c in why_b["candidates"]] == [
            c["subject_id"] for c in why_a["candidates"]
        ], key
        levels = [(c["comparison"], c["level"], c["gamma"]) for c in why_a.get("comparisons", [])]
        assert [(c["comparison"], c["level"], c["gamma"])
                for c in why_b.get("comparisons", [])] == levels, key  # fmt: skip


@pytest.mark.spark
def test_an_officials_judgement_holds_on_spark_too(city, linked):
    _, (source, record_id, subject_id) = city
    spark, _ = linked["spark"]
    row = spark[(source, record_id)]
    assert row["subject_id"] != subject_id
    assert subject_id in row["explanation"]["excluded_by_judgement"]
    assert subject_id not in [c["subject_id"] for c in row["explanation"]["candidates"]]


@pytest.mark.spark
def test_names_compare_on_spark_exactly_as_on_duckdb(spark):
    """Pairs where Splink's Scala Jaro-Winkler and DuckDB's disagree (an odd number of
    half-transpositions), Han names, a character outside the BMP (two UTF-16 units in
    the JVM), nulls."""
    pairs = [("liuwenhao", "liufanhua"), ("lihanxin", "lixuan"), ("zhangweilu", "zhaoping"),
             ("王伟", "王玮"), ("𠮷田", "吉田"), ("martha", "marhta"), ("ab", None)]  # fmt: skip
    session = spark.newSession()
    sp._register_similarities(session)
    rows = session.createDataFrame(pairs, "l string, r string")
    for name, duckdb_name in (("jaro_winkler", "jaro_winkler_similarity"),
                              ("damerau_levenshtein", "damerau_levenshtein")):  # fmt: skip
        got = [r[0] for r in rows.selectExpr(f"{name}(l, r)").collect()]
        want = [
            duckdb.sql(f"SELECT {duckdb_name}($l, $r)::DOUBLE", params={"l": a, "r": b}).fetchall()[
                0
            ][0]
            for a, b in pairs
        ]
        assert got == want, name


def test_the_spark_settings_carry_the_trained_probabilities_in_sparks_dialect():
    model = _model()
    body = sp.settings(model, 1000)
    text = json.dumps(body)
    for duckdb_only in ("jaro_winkler_similarity", "try_strptime", "strftime", "EPOCH("):
        assert duckdb_only not in text
    trained = model["settings"]["comparisons"]
    for stored, built in zip(trained, body["comparisons"], strict=True):
        for a, b in zip(stored["comparison_levels"], built["comparison_levels"], strict=True):
            assert (a.get("m_probability"), a.get("u_probability")) == (
                b.get("m_probability"), b.get("u_probability"),
            )  # fmt: skip
    assert body["probability_two_random_records_match"] == m.prior(1000)


def test_a_model_with_other_comparisons_is_refused_before_spark_starts():
    model = _model()
    model["settings"]["comparisons"][1]["comparison_levels"].pop(2)  # "day and month swapped"
    with pytest.raises(m.ModelError, match=r"--retrain"):
        sp.predict(m.SCHEMA.empty_table(), m.SCHEMA.empty_table(), model)  # nothing to score
    with pytest.raises(m.ModelError, match=r"birth_date.*this code builds"):
        sp.settings(model, 1000)


def _model() -> dict:
    """A stored-model dict as `model.train` returns it, without training (no data needed):
    the DuckDB settings with m and u probabilities set."""
    body = m.settings(1e-4).create_settings_dict("duckdb")
    for c in body["comparisons"]:
        for i, level in enumerate(c["comparison_levels"]):
            if not level.get("is_null_level"):
                level["m_probability"], level["u_probability"] = 0.5 / (i + 1), 0.01 * (i + 1)
    return copy.deepcopy({"format": m.FORMAT, "settings": body})
