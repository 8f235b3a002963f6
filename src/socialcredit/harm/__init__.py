"""The harm audit (issue 8): who the lists hurt by mistake, and for how long.

`harm_audit` works on files and a ground truth; `audit_store` reads both from a store and
the synthetic city's answer key; `render_html` draws the report as one page.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from socialcredit.harm.audit import Truth, harm_audit
from socialcredit.harm.replay import files_from_tables
from socialcredit.harm.report import render_html

DEMO_TRUTH = Path("demo-city") / "truth" / "truth.parquet"  # under the store's data_dir

__all__ = ["audit_store", "harm_audit", "load_truth", "render_html", "report_html"]


def load_truth(path: str | Path) -> Truth:
    """Read the city's answer key (`truth/truth.parquet` from `write_city`)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"no ground truth at {path} — give the truth.parquet that write_city wrote"
        )
    t = pq.read_table(path, columns=["source", "record_id", "national_id"])
    return dict(
        zip(
            zip(t["source"].to_pylist(), t["record_id"].to_pylist(), strict=True),
            t["national_id"].to_pylist(),
            strict=True,
        )
    )


def default_truth(store) -> Path | None:
    """The demo city's answer key, when this store was built by `socialcredit demo`."""
    try:
        path = store.data_dir() / DEMO_TRUTH
    except Exception:  # a store without a local data directory (PostgreSQL)
        return None
    return path if path.is_file() else None


def audit_store(store, day: date, truth_path: str | Path | None = None) -> dict:
    """Run the harm audit on everything in `store` up to `day` under the rulebook in force.

    Without `truth_path`, the demo city's answer key is used if the store has one; without
    any, the wrong-person counts are null.
    """
    rb = store.rulebook_in_force(day)
    truth_path = truth_path or default_truth(store)
    truth = load_truth(truth_path) if truth_path else None
    files = files_from_tables(store.batch_tables())
    return harm_audit(files, rb, day, truth, store.stored_entries())


def report_html(store, day: date, truth_path: str | Path | None = None) -> str:
    """The harm audit of `store` as one HTML page (for the console)."""
    return render_html(audit_store(store, day, truth_path))
