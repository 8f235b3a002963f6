"""One plan, two engines: DuckDB and Spark give the same scores, grades, entries and
decisions on the same data (the plan of engine/plan.py, translated by engine/dialect.py).

Marked `spark`: a JVM starts once per test session (local mode, 2 cores)."""

from __future__ import annotations

import importlib.util
import math
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcredit.engine import duckdb as ddb
from socialcredit.engine import spark as sp
from socialcredit.engine.dialect import to_spark
from socialcredit.engine.file import File, RecordVersion
from socialcredit.engine.plan import PlanError
from socialcredit.engine.tables import tables_from_files
from socialcredit.rulebook import default_rulebook
from test_engine_agree import cases, rulebooks


@pytest.fixture(scope="session")
def spark():
    return sp.session(cores=2, memory="2g")


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "batch_scoring.py"
    spec = importlib.util.spec_from_file_location("batch_scoring_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def assert_same(a, b):
    """Scores within float noise (sums run in another order); all else exactly equal."""
    assert a.scores.column("subject_id").equals(b.scores.column("subject_id"))
    for x, y in zip(
        a.scores.column("score").to_pylist(), b.scores.column("score").to_pylist(), strict=True
    ):
        assert (x is None and y is None) or math.isclose(x, y, abs_tol=1e-9), (x, y)
    assert a.scores.column("grade").equals(b.scores.column("grade"))
    assert a.entries.to_pylist() == b.entries.to_pylist()
    assert a.decisions.to_pylist() == b.decisions.to_pylist()
    assert a.summary("x") == b.summary("x") | {"seconds": a.summary("x")["seconds"]}


@pytest.mark.spark
def test_city_scored_alike_on_duckdb_and_spark(spark):
    bench = _bench()
    from socialcredit.city import generate

    tables = bench.batch_inputs(generate(400, seed=3, density=bench.DENSITY_20))
    rb, day = default_rulebook(), date(2026, 7, 1)
    a = ddb.run(ddb.connect(tables), rb, day)
    b = sp.run(tables, rb, day, spark=spark)
    assert a.entries.num_rows > 10 and a.decisions.num_rows > 10  # the lists are exercised
    assert_same(a, b)


@pytest.mark.spark
def test_two_judgements_of_one_day_come_out_in_the_same_order(spark):
    """Two judgements of one day make one entry (an entry is known by its list and start),
    caused by both, alike on both engines (they came out as two, in either order, at 10M
    records, and the store refused the second)."""
    day = date(2026, 7, 1)
    files = [
        File(f"s{i:03d}", tuple(
            RecordVersion("court", f"j{i:03d}-{k}", "court.dishonest_debtor", date(2026, 3, 2),
                          case_no=f"c{i}-{k}")
            for k in (2, 1)  # the later id first
        ), (), ())
        for i in range(60)
    ]  # fmt: skip
    tables = tables_from_files(files)
    rb = default_rulebook()
    a = ddb.run(ddb.connect(tables), rb, day)
    b = sp.run(tables, rb, day, spark=spark)
    assert a.entries.num_rows == 60
    assert a.entries.column("cause").to_pylist()[0] == ["court:j000-1", "court:j000-2"]
    assert_same(a, b)


@st.composite
def populations(draw):
    """Several generated cases on one rulebook and one day, as one population."""
    rb = draw(rulebooks())
    parts = draw(st.lists(cases(), min_size=4, max_size=4))
    day = parts[0][1]
    files = []
    for i, (fs, _) in enumerate(parts):
        for f in fs:
            files.append(File(f"p{i}{f.subject_id}", f.records, f.consents, f.objections))
    return rb, files, day + timedelta(days=draw(st.integers(0, 30)))


@pytest.mark.spark
@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pop=populations())
def test_generated_rulebooks_alike_on_duckdb_and_spark(spark, pop):
    rb, files, day = pop
    tables = tables_from_files(files)
    a = ddb.run(ddb.connect(tables, threads=1), rb, day)
    b = sp.run(tables, rb, day, spark=spark)
    assert_same(a, b)


def test_ordered_list_keeps_its_order_in_spark():
    sql = to_spark("SELECT list(x ORDER BY k, j) AS l FROM t GROUP BY ALL").sql
    assert "ARRAY_SORT(COLLECT_LIST(STRUCT(k AS k0, j AS k1, x AS v)))" in sql


def test_temp_table_becomes_a_named_query():
    st_ = to_spark("CREATE OR REPLACE TEMP TABLE g AS SELECT 1 AS a")
    assert st_.table == "g" and st_.sql == "SELECT 1 AS a"


def test_unknown_macro_is_refused_by_name():
    with pytest.raises(PlanError, match="no signature for macro 'f'"):
        to_spark("CREATE OR REPLACE TEMP MACRO f(a) AS (a + 1)")
