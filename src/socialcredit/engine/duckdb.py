"""Run the batch plan on DuckDB. Engine-specific settings live here and nowhere else."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from socialcredit.engine import batch
from socialcredit.engine.batch import BatchResult
from socialcredit.engine.plan import PlanError
from socialcredit.rulebook.model import Rulebook

__all__ = ["BatchResult", "PlanError", "connect", "run"]

INPUTS = ("records", "consents", "objections", "subjects")


def connect(
    tables: dict[str, pa.Table] | None = None, threads: int | None = None, materialize: bool = False
):
    """A DuckDB connection with the plan's input tables registered: views over the Arrow
    tables (zero copy), or DuckDB's own tables when `materialize`."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    for name, table in (tables or {}).items():
        if name == "consents" and "seq" not in table.column_names:
            table = table.append_column("seq", pa.array(range(table.num_rows), pa.int64()))
        con.register(f"{name}_arrow", table)
        kind = "TABLE" if materialize else "VIEW"
        con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS SELECT * FROM {name}_arrow")
        if materialize:
            con.unregister(f"{name}_arrow")
    return con


class DuckDB:
    """The batch plan's `Backend` on one DuckDB connection."""

    name = "duckdb"
    errors = (duckdb.Error,)

    def __init__(self, con):
        self.con = con

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(f"{name}_arrow", table)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        self.con.unregister(f"{name}_arrow")

    def model_timeline(self, rb: Rulebook, day: date, model, subjects: str) -> pa.Table:
        from socialcredit.scorecard.timeline import timeline

        return timeline(self.con, rb, day, model, subjects, setup=False)  # batch.run set up


def _calendar(con, rb: Rulebook, day: date) -> None:
    batch.calendar(DuckDB(con), rb, day)


def run(con, rb: Rulebook, day: date, progress=None, model=None) -> BatchResult:
    """Evaluate everyone on `day` (engine/batch.py) on this connection.

    `model` is the stored scorecard that `model_score_at_least` lists read (None: no
    commercial score, so no such entries)."""
    return batch.run(DuckDB(con), rb, day, progress=progress, model=model)
