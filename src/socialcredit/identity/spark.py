"""Identity linkage on Apache Spark: the stored model applied by Splink's Spark backend.

A model is trained once (identity/model.py, on DuckDB, from a sample) and stored as Splink
JSON whose SQL conditions are DuckDB's. To apply it on Spark, the comparisons are built
again for the Spark dialect by the one settings function (`model.settings`), and each level
takes its stored twin's trained m and u probabilities; the blocking rules are the ones in
force, translated by Splink (sqlglot). Spark scores the blocked pairs and keeps each
record's best few; only those come back, and DuckDB ranks and explains them with the code
the DuckDB path uses (`model.ranked`), so both engines answer in one shape.

The string similarities the comparisons call are DuckDB's own functions, run on Spark as
Arrow UDFs, not the Scala UDFs in Splink's jar: that jar's Jaro counts an odd number of
half-transpositions as a fraction where DuckDB (like Winkler's strcmp95) rounds it down,
so "liuwenhao"/"liufanhua" scored 0.69 on Spark and 0.81 on DuckDB, and on a 100,000-record
city 0.5% of the records' link confidences differed between the engines.
"""

from __future__ import annotations

import copy
import shutil
import tempfile

import duckdb
import pyarrow as pa
from splink import Linker
from splink.blocking_rule_library import CustomRule

from socialcredit.identity import model as m

DIALECT = "spark"


def settings(model: dict, population: int) -> dict:
    """Return a stored model's Splink settings for Spark, as applied to a population.

    Raises ModelError when the stored comparisons are not the ones this code builds (a
    model trained by another version): its probabilities would then sit on other levels.
    """
    body = copy.deepcopy(m.applied(model, population))
    built = m.settings(body["probability_two_random_records_match"])
    fresh = built.create_settings_dict(DIALECT)["comparisons"]
    if _layout(body["comparisons"]) != _layout(fresh):
        raise m.ModelError(
            f"identity model v{model.get('version', '?')} compares {_layout(body['comparisons'])}"
            f", this code builds {_layout(fresh)}: train a new version "
            "(socialcredit link --retrain) before linking on Spark"
        )
    for stored, spark in zip(body["comparisons"], fresh, strict=True):
        for level, twin in zip(stored["comparison_levels"], spark["comparison_levels"],
                               strict=True):  # fmt: skip
            level["sql_condition"] = twin["sql_condition"]
    body["blocking_rules_to_generate_predictions"] = [
        (
            CustomRule(r, sql_dialect="duckdb") if isinstance(r, str) else r
        ).create_blocking_rule_dict(DIALECT)
        for r in m.BLOCKING
    ]
    return body


def _layout(comparisons: list[dict]) -> list[tuple]:
    """What identifies a model's levels whatever the dialect: names and labels in order."""
    return [
        (c["output_column_name"],
         tuple(lv.get("label_for_charts") for lv in c["comparison_levels"]))
        for c in comparisons
    ]  # fmt: skip


def predict(*args, **kwargs) -> list[dict]:
    """`predict_table` as dicts: what `model.predict` returns on DuckDB."""
    return m.rows(predict_table(*args, **kwargs))


def predict_table(
    subjects: pa.Table,
    records: pa.Table,
    model: dict,
    keep: int = 5,
    population: int | None = None,
    tf: dict[str, pa.Table] | None = None,
    judged: pa.Table | None = None,
    spark=None,
) -> pa.Table:
    """Score the blocked pairs on Spark; return what `model.predict_table` returns on DuckDB.

    `spark` is a SparkSession (default: the process's, engine/spark.py `session`).
    """
    from splink.backends.spark import SparkAPI

    from socialcredit.engine import spark as engine

    m.check(model)
    population = population or subjects.num_rows
    body = settings(model, population)  # a model Spark cannot apply fails here, not half-way
    if subjects.num_rows == 0 or records.num_rows == 0:
        return m.RANKED.empty_table()
    session = (spark or engine.session()).newSession()  # Splink's temp views stay here
    scratch = tempfile.mkdtemp(prefix="socialcredit-link-")
    # Splink breaks lineage by writing its big intermediate tables as Parquet there
    session.sparkContext.setCheckpointDir(scratch)
    try:
        db = SparkAPI(
            spark_session=session, break_lineage_method="parquet", register_udfs_automatically=False
        )
        _register_similarities(session)
        inputs = [
            db.register(subjects.cast(m.SCHEMA), dataset_display_name=m.SUBJECTS),
            db.register(records.cast(m.SCHEMA), dataset_display_name=m.RECORDS),
        ]
        linker = Linker(inputs, body, log_level=None, validate_settings=False)
        for col, table in (tf if tf is not None else m.term_frequencies(subjects)).items():
            lookup = db.register(table, dataset_display_name=f"tf_lookup_{col}")
            linker.table_management.register_term_frequency_lookup(lookup, col)
        scored = linker.inference.predict(warning_mode="never").physical_name
        kept = _best(session, scored, keep, judged)
    except engine._errors() as e:
        raise m.ModelError(f"Spark could not score the pairs: {e}") from e
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    con = duckdb.connect()
    con.register("__kept", kept)
    return m.ranked(con, "__kept", m.applied(model, population), keep, judged)


def _best(session, scored: str, keep: int, judged: pa.Table | None) -> pa.Table:
    """Return the scored pairs that `model.ranked` can keep, as Arrow: each
    record's `keep` best that no official judged different, and every pair judged the
    same (the ranking is redone in DuckDB on these, with the same result)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    judged = judged if judged is not None else m.JUDGED.empty_table()
    subject_left = F.col("source_dataset_l") == m.SUBJECTS
    pairs = (
        session.table(scored)
        .withColumn("record_uid", F.when(subject_left, F.col("uid_r")).otherwise(F.col("uid_l")))
        .withColumn("subject_uid", F.when(subject_left, F.col("uid_l")).otherwise(F.col("uid_r")))
    )
    columns = session.table(scored).columns
    judgements = session.createDataFrame(judged.cast(m.JUDGED), schema="record_uid string, "
                                         "subject_uid string, same boolean")  # fmt: skip
    by_record = Window.partitionBy("record_uid").orderBy(F.desc("match_weight"), "subject_uid")
    return (
        pairs.join(judgements, ["record_uid", "subject_uid"], "left")
        .where(~F.col("same").eqNullSafe(False))
        .withColumn("__rank", F.row_number().over(by_record))
        .where((F.col("__rank") <= keep) | F.coalesce(F.col("same"), F.lit(False)))
        .select(*columns)
        .toArrow()
    )


def _duckdb(function: str, left: pa.Array, right: pa.Array) -> pa.Array:
    con = duckdb.connect(config={"threads": 1})  # one thread: the rows keep their order
    con.register("pairs", pa.table({"l": left, "r": right}))
    sql = f"SELECT {function}(l, r)::DOUBLE FROM pairs"
    return con.sql(sql).to_arrow_table().column(0).combine_chunks()


def jaro_winkler(left: pa.Array, right: pa.Array) -> pa.Array:
    """Return DuckDB's jaro_winkler_similarity of each pair (null where either is null)."""
    return _duckdb("jaro_winkler_similarity", left, right)


def damerau_levenshtein(left: pa.Array, right: pa.Array) -> pa.Array:
    """Return DuckDB's damerau_levenshtein of each pair (null where either is null)."""
    return _duckdb("damerau_levenshtein", left, right)


# The functions Splink's Spark dialect calls in the comparisons, by the name it calls them
SIMILARITIES = {"jaro_winkler": jaro_winkler, "damerau_levenshtein": damerau_levenshtein}


def _register_similarities(session) -> None:
    """Register SIMILARITIES on a Spark session, run as Arrow UDFs (a batch at a time)."""
    from pyspark.sql.functions import arrow_udf

    for name, fn in SIMILARITIES.items():
        session.udf.register(name, arrow_udf(fn, "double"))
