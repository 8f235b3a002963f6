"""`socialcredit demo`: a synthetic city through the whole pipeline, in an empty store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from socialcredit.city import generate, write_city
from socialcredit.identity import link_batch
from socialcredit.ingest import ingest_consents, ingest_file
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.scoring import score_population

CITY_YEARS = 5  # the city has records from this many years before the demo day


def build(
    store, residents: int, seed: int, day: date, bar=None, workdir: Path | None = None
) -> dict:
    """Generate, ingest and score a city of `residents`; return the score summary plus a
    sample of residents to look at. Refuses a store that holds other data; the same demo
    run again only rescores."""
    tag = f"residents={residents} seed={seed}"
    held = store.setting("demo")
    if held is None and store.subjects_count() > 0:
        raise ValueError(
            "the store already holds data that is not this demo — "
            "point --db at a new place, e.g. --db sqlite:///demo.sqlite"
        )
    if held is not None and held != tag:
        raise ValueError(f"the store holds another demo ({held}) — use a new --db")
    if store.setting("demo_built") != tag:  # new, or a build that stopped part-way
        store.set_setting("demo", tag)
        store.load_rulebook(load_rulebook(default_rulebook_text()))
        task = bar.add_task("generate city", total=None) if bar else None
        start = date(day.year - CITY_YEARS, 1, 1)
        city = generate(residents, seed=seed, start=start, end=day)
        workdir = workdir or store.data_dir() / "demo-city"
        paths = write_city(city, workdir)
        for path in paths:
            if bar:
                bar.update(task, description=f"ingest {path.name}", completed=0, total=None)
            ingest_file(
                store,
                path,
                as_of=day,
                progress=(
                    (lambda done, total: bar.update(task, completed=done, total=total))
                    if bar
                    else None
                ),
            )
        ingest_consents(store, workdir / "consents.csv", as_of=day)
        if bar:
            bar.update(task, description="link records without a national id", total=None)
        link_batch(store, day)
        store.set_setting("demo_built", tag)
    summary = score_population(store, day)
    summary["sample_national_ids"] = store.sample_national_ids(5)
    return summary
