"""Run the batch plan on Apache Spark (PySpark). Spark settings live here and nowhere else.

The plan is the one engine/plan.py writes for DuckDB, translated statement by statement
(engine/dialect.py) and run in the order engine/batch.py gives. Each `CREATE TEMP TABLE`
of the plan is materialised (as Parquet in a scratch folder), as DuckDB materialises it,
so later steps read it instead of recomputing its lineage.

Inputs travel as Parquet files in a scratch folder: Spark reads them in parallel and
without holding a second copy in the driver, as it would read a production lake.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engine import batch
from socialcredit.engine.batch import BatchResult
from socialcredit.engine.dialect import to_spark
from socialcredit.rulebook.model import Rulebook

_session = None


def session(cores: int | None = None, memory: str | None = None):
    """The process's SparkSession in local mode, started on first use (the JVM takes a
    while). `memory` is the driver heap, e.g. "8g" (default: $SOCIALCREDIT_SPARK_MEMORY,
    else 4g); in local mode the driver does all the work."""
    global _session
    if _session is not None:
        return _session
    from pyspark.sql import SparkSession

    cores = cores or os.cpu_count() or 1
    memory = memory or os.environ.get("SOCIALCREDIT_SPARK_MEMORY", "4g")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise RuntimeError(
            "the spark engine needs Java 17 or later: install a JDK (e.g. Debian's "
            "openjdk-17-jre-headless) or set JAVA_HOME"
        )
    # Python workers (identity linkage's Arrow UDFs) run this interpreter, with its packages
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("socialcredit")
        .config("spark.driver.memory", memory)
        # one machine: a few partitions per core, not the 200 meant for a cluster
        .config("spark.sql.shuffle.partitions", str(2 * cores))
        .config("spark.default.parallelism", str(2 * cores))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # reasons are JSON with every key, `"until": null` included, as DuckDB writes them
        .config("spark.sql.jsonGenerator.ignoreNullFields", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.local.dir", tempfile.gettempdir())
        # inferring filters from every constraint costs seconds per step on the plan's
        # long CASE and UNION ALL chains, and finds nothing the plan has not said itself
        .config("spark.sql.constraintPropagation.enabled", "false")
    )
    _session = builder.getOrCreate()
    _session.sparkContext.setLogLevel("ERROR")
    return _session


def _errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


class Spark:
    """The batch plan's `Backend` on a Spark session of its own (temp views do not leak
    between runs; the JVM and its cache are shared)."""

    name = "spark"

    def __init__(self, spark, tables: dict[str, pa.Table]):
        self.spark = spark.newSession()
        self.errors = _errors()
        self.tables = tables
        self.scratch = tempfile.mkdtemp(prefix="socialcredit-spark-")
        self._written = 0
        for name, table in tables.items():
            if name == "consents" and "seq" not in table.column_names:
                table = table.append_column("seq", pa.array(range(table.num_rows), pa.int64()))
            path = os.path.join(self.scratch, f"{name}.parquet")
            pq.write_table(table, path)
            self.spark.read.parquet(path).createOrReplaceTempView(name)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def execute(self, sql: str) -> None:
        st = to_spark(sql)
        if st.table is None:
            self.spark.sql(st.sql)
            return
        # Materialised as Parquet, not by a local checkpoint: a checkpoint keeps the hash
        # partitioning it was built with, and a later join that adaptive execution has
        # coalesced on the other side then fails ("Can't zip RDDs with unequal numbers of
        # partitions", seen at 1M records). A file claims no partitioning.
        path = os.path.join(self.scratch, f"{st.table}-{self._written}.parquet")
        self._written += 1
        self.spark.sql(st.sql).write.parquet(path)
        self.spark.read.parquet(path).createOrReplaceTempView(st.table)

    def arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(to_spark(sql).sql).toArrow()

    def register(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def model_timeline(self, rb: Rulebook, day: date, model, subjects: str) -> pa.Table:
        # The commercial score is a Python model over DuckDB features (scorecard/); its
        # timeline is computed there, on the same inputs, and handed back to Spark.
        from socialcredit.engine import duckdb as engine
        from socialcredit.scorecard.timeline import timeline

        con = engine.connect(self.tables)
        engine.DuckDB(con).register(subjects, self.arrow(f"SELECT * FROM {subjects}"))
        return timeline(con, rb, day, model, subjects)


# The arrow shapes DuckDB returns, so that a result reads the same from either engine.
_LIST = pa.list_(pa.string())


def _like_duckdb(t: pa.Table) -> pa.Table:
    fields = [pa.field(f.name, _LIST if pa.types.is_list(f.type) else f.type) for f in t.schema]
    return t.cast(pa.schema(fields))


def run(
    tables: dict[str, pa.Table], rb: Rulebook, day: date, progress=None, model=None, spark=None
) -> BatchResult:
    """Evaluate everyone in `tables` (the store's batch_tables shape) on `day` with Spark."""
    with Spark(spark or session(), tables) as be:
        r = batch.run(be, rb, day, progress=progress, model=model)
    r.scores, r.entries, r.decisions = map(_like_duckdb, (r.scores, r.entries, r.decisions))
    return r
