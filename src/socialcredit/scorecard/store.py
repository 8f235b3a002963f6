"""Model versions in the store: each a JSON document in the `settings` table.

Key `scorecard:v{N}` holds version N (1, 2, ...; never changed once written); the highest
is the one in use. A stop-gap until the store has a table of its own (see the proposal
in the helper's report: `scorecard_models(version PK, trained_at, as_of, body TEXT,
digest)`, written through the same single writer).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime

from sqlalchemy import insert, select

from socialcredit.scorecard.model import ModelError, ScoreModel
from socialcredit.store.schema import settings

PREFIX = "scorecard:v"


def _version_of(key: str) -> int | None:
    tail = key[len(PREFIX):]
    return int(tail) if key.startswith(PREFIX) and tail.isdigit() else None


def versions(store) -> list[int]:
    """The stored model versions, oldest first."""
    with store._read() as conn:
        keys = conn.scalars(select(settings.c.key).where(settings.c.key.startswith(PREFIX)))
        found = [_version_of(k) for k in keys]
    return sorted(v for v in found if v is not None)


def save(store, model: ScoreModel) -> int:
    """Store `model` as the next version and return its number (written in one transaction,
    so two trainings at once cannot take the same number)."""
    with store._write() as conn:
        keys = conn.scalars(select(settings.c.key).where(settings.c.key.startswith(PREFIX)))
        version = max((v for v in map(_version_of, keys) if v is not None), default=0) + 1
        model.meta.pop("digest", None)
        model.meta["version"] = version
        model.meta["stored_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
        if isinstance(model.meta.get("card"), dict):
            model.meta["card"]["meta"]["version"] = version
        body = json.dumps(_clean(model.to_dict()), ensure_ascii=False, sort_keys=True,
                          allow_nan=False, default=_plain)
        model.meta["digest"] = hashlib.sha256(body.encode()).hexdigest()
        conn.execute(insert(settings).values(key=f"{PREFIX}{version}", value=body))
    return version


def load(store, version: int | None = None) -> ScoreModel:
    """Version `version` of the model, or the latest; ModelError when there is none."""
    if version is None:
        have = versions(store)
        if not have:
            raise ModelError("no scorecard model is stored — train one with "
                             "`socialcredit model train`")
        version = have[-1]
    with store._read() as conn:
        body = conn.scalar(select(settings.c.value).where(settings.c.key == f"{PREFIX}{version}"))
    if body is None:
        raise ModelError(f"no scorecard model version {version} — stored: {versions(store)}")
    model = ScoreModel.from_dict(json.loads(body))
    model.meta["digest"] = hashlib.sha256(body.encode()).hexdigest()
    return model


def load_in_force(store, day) -> ScoreModel | None:
    """The model a replay of `day` uses: the highest version trained on or before `day`
    (its meta `as_of`), or None when there is none yet."""
    for version in reversed(versions(store)):
        model = load(store, version)
        if model.meta.get("as_of", "") <= day.isoformat():
            return model
    return None


def _clean(v):
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def _plain(v):
    """JSON for numpy scalars and dates that slip into a card."""
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise TypeError(f"cannot store {type(v).__name__} in a model document")
