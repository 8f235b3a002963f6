"""The batch plan's SQL in Spark's dialect: pure translation, no engine in sight.

engine/plan.py writes one plan, in DuckDB's dialect; sqlglot (the transpiler Splink uses
for its own multi-backend SQL) rewrites it for Spark. What sqlglot cannot know is done
here, on the syntax tree, and nowhere else:

- `CREATE TEMP TABLE t AS q` becomes (t, q): Spark has no temp tables, so the engine
  materialises q and names it t (engine/spark.py).
- A DuckDB macro becomes a Spark SQL function; Spark wants typed parameters, which
  DuckDB macros do not declare, so each macro's signature is listed in MACROS.
- `list(x ORDER BY k)` keeps its order: sqlglot would drop it (Spark's collect_list has
  no ORDER BY), so the values are collected with their keys, sorted, and unwrapped.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark as _Spark

from socialcredit.engine.plan import PlanError


class SparkNested(_Spark):
    """Spark 3+ as sqlglot knows it, but keeping a CTE inside a subquery where it is: the
    Hive-era rule of hoisting every CTE to the top clashes with the plan's reuse of names
    such as `v` in sibling subqueries, and Spark has read nested CTEs since 3.0."""

    class Generator(_Spark.Generator):
        EXPRESSIONS_WITHOUT_NESTED_CTES: set = set()


# name -> (typed parameters, return type) of each macro the plan defines
MACROS = {"add_wd": ("d DATE, n INT", "DATE")}


@dataclass(frozen=True)
class Statement:
    sql: str  # Spark SQL: the query whose rows make `table`, or a statement to run as is
    table: str | None = None  # the temp table this query creates, if any


def _ordered_list(node: exp.Expression) -> exp.Expression:
    if not (isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order)):
        return node
    order = node.this
    if any(o.args.get("desc") for o in order.expressions):
        raise PlanError(f"Spark dialect: list(... ORDER BY ... DESC) is not supported: {node}")
    keys = [f"{o.this.sql(SparkNested)} AS k{i}" for i, o in enumerate(order.expressions)]
    value = order.this.sql(SparkNested)
    text = f"TRANSFORM(ARRAY_SORT(COLLECT_LIST(STRUCT({', '.join(keys)}, {value} AS v))), e -> e.v)"
    return sqlglot.parse_one(text, read=SparkNested)


def to_spark(sql: str) -> Statement:
    """One statement of the plan (DuckDB dialect) as Spark SQL."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise PlanError(f"cannot read the plan's SQL to translate it for Spark: {e}") from e
    tree = tree.transform(_ordered_list)
    if isinstance(tree, exp.Create):
        kind = tree.args.get("kind")
        if kind == "TABLE":
            return Statement(tree.expression.sql(SparkNested), table=tree.this.name)
        if kind == "MACRO":
            name = tree.this.this.name
            if name not in MACROS:
                raise PlanError(f"Spark dialect: no signature for macro {name!r}; add it to MACROS")
            params, returns = MACROS[name]
            body = tree.expression.sql(SparkNested)
            return Statement(
                f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({params}) RETURNS {returns} "
                f"RETURN {body}"
            )
        raise PlanError(f"Spark dialect: CREATE {kind} is not supported")
    return Statement(tree.sql(SparkNested))
