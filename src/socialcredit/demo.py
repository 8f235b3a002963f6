"""`socialcredit demo`: a synthetic city through the whole pipeline, in an empty store."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import select

from socialcredit.city import generate, write_city
from socialcredit.identity import link_batch
from socialcredit.ingest import ingest_consents, ingest_file
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.scorecard.train import train_stored
from socialcredit.scoring import score_population
from socialcredit.store import tokens as token_rows
from socialcredit.store.schema import entries, subjects

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
        if bar:
            bar.update(task, description="train the commercial scorecard", total=None)
        try:
            train_stored(store, day, seed=seed)
        except ValueError:
            pass  # too small a city for goods and defaults both: no commercial score, no perk
        store.set_setting("demo_built", tag)
    summary = score_population(store, day)
    summary["sample_national_ids"] = store.sample_national_ids(5)
    return summary


def listed_resident(store, day: date) -> str | None:
    """A resident on a restrict list today, who has something to object to; else None."""
    restrict = [ld.id for ld in store.rulebook_in_force(day).lists if ld.kind == "restrict"]
    q = (
        select(subjects.c.national_id)
        .join(entries, entries.c.subject_id == subjects.c.subject_id)
        .where(entries.c.state == "active", entries.c.list_id.in_(restrict),
               subjects.c.national_id.is_not(None))
        .order_by(subjects.c.subject_id)
        .limit(1)
    )  # fmt: skip
    with store._read() as conn:
        return conn.scalar(q)


def demo_tokens(store, day: date) -> dict[str, dict]:
    """The demo's resident, provider and official tokens, created once and kept (secret
    included) in the demo store's settings, so the console's demo page can sign a visitor in
    as any of them. Only a demo store holds them: its people are synthetic."""
    from socialcredit.checks import services_of
    from socialcredit.service.auth import create_token

    if store.setting("demo") is None:
        raise ValueError("demo tokens are only made in a demo store (socialcredit demo)")
    kept = json.loads(store.setting("demo_tokens") or "{}")
    if kept and all(
        (row := token_rows.get_token(store, t["token_id"])) is not None and not row["revoked"]
        for t in kept.values()
    ):
        return kept
    nid = listed_resident(store, day) or store.sample_national_ids(1)[0]
    services = services_of(store.rulebook_in_force(day))
    made = {
        "resident": create_token(store, "subject", national_id=nid)
        | {"label": f"Resident {nid}", "national_id": nid},
        "provider": create_token(store, "provider", services=services)
        | {"label": "Provider (" + ", ".join(services) + ")"},
        "official": create_token(store, "official") | {"label": "Official"},
    }
    store.set_setting("demo_tokens", json.dumps(made))
    return made
