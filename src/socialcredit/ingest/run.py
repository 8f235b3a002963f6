"""One ingest run: each chunk's rows decided (accepted, duplicate, correction, reject) and
written in one transaction; plain Parquet rows go by column (see `plain`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pyarrow as pa

from socialcredit.ingest.columns import Checked
from socialcredit.ingest.plain import Plain, people, stage
from socialcredit.ingest.report import IngestReport
from socialcredit.records import IDENTITY, Reject, canonical_json
from socialcredit.store import Store
from socialcredit.store.bulk import encode
from socialcredit.store.records import STAGE_COLUMNS

Parsed = tuple[int, dict, "dict | Reject"]  # row number, raw row, record or reject
Key = tuple[str, str]
_SUPERSEDED = STAGE_COLUMNS.index("superseded_on")


def _row_no(item: tuple) -> int:
    return item[0]


@dataclass
class _Replay:
    """A record whose row matched an older stored version: perhaps a re-run of an old file.

    Its rows count as duplicates while they follow the stored versions; if the file ends
    before reaching the latest version, the last row is applied then (see `Run.finish`).
    """

    digests: list[str]
    at: int  # index in `digests` of the version the last row matched
    last: Parsed
    result: int | None = None  # index of the last row's entry in report.results


@dataclass
class _Chunk:
    """What one chunk will write."""

    rows: list[tuple] = field(default_factory=list)  # in store.records.STAGE_COLUMNS order
    written: dict[Key, tuple[int, int, str]] = field(default_factory=dict)  # index, version, digest
    supersede: list[int] = field(default_factory=list)
    rejects: dict[int, tuple[Reject, dict]] = field(default_factory=dict)
    status: dict[int, str] = field(default_factory=dict)
    new_subjects: dict[str, dict] = field(default_factory=dict)
    changed: dict[str, dict] = field(default_factory=dict)


class Run:
    """One ingest run: turn chunks of parsed rows into store writes, one transaction each."""

    def __init__(self, store: Store, label: str, file_digest: str, source: str | None,
                 as_of: date, report: IngestReport) -> None:  # fmt: skip
        self.store, self.label, self.file_digest = store, label, file_digest
        self.source, self.as_of, self.report = source, as_of, report
        self.replays: dict[Key, _Replay] = {}
        self.ingested_at = datetime.now(UTC).replace(tzinfo=None)

    def apply(self, parsed: list[Parsed], replay: bool = True,
              plain: Plain | None = None) -> None:  # fmt: skip
        """Write one chunk in one transaction, then count it in the report.

        `plain` holds the plain rows of a Parquet chunk, already normalised; those that
        are new records are staged and written by column, exact duplicates counted, the
        rest join `parsed` for `_decide` (see `_split_fast`).
        """
        c = _Chunk()
        fast, dups = None, 0
        with self.store.ingest_batch(plain.file if plain else None) as tx:
            recs = [rec for _, _, rec in parsed if not isinstance(rec, Reject)]
            keys = {(r["source"], r["record_id"]) for r in recs}
            persons, with_people = None, False
            if plain is not None and plain.rows.num_rows:
                if plain.file:  # the plain rows' keys are in the attached file
                    # New records, most often: looked up only if they may not be.
                    history = tx.histories(keys, attached=tx.any_within(plain.spans))
                else:
                    history = tx.histories(keys.union(plain.keys()))
                fast, dups, demoted = self._split_fast(plain, keys, recs, history)
                dialect = self.store.dialect
                if fast.num_rows == plain.rows.num_rows:
                    tx.stage(plain.staged)  # None: from the attached file
                    persons, with_people = plain.people, True
                elif fast.num_rows and plain.file and not dups:
                    # The rows left for _decide are all the rows of their people (see
                    # _split_fast): the attached file less them is what is new.
                    tx.stage(None, leave_out=demoted)
                    with_people = True
                elif fast.num_rows:  # some are not new: stage the others only
                    tx.stage(stage(dialect, fast))
                    persons, with_people = encode(dialect, people(fast)), True
                if demoted:
                    parsed = sorted(parsed + self._reparse(plain.checked, demoted), key=_row_no)
                    recs = [rec for _, _, rec in parsed if not isinstance(rec, Reject)]
            else:
                history = tx.histories(keys)
            known = tx.subjects_for({r["national_id"] for r in recs if r["national_id"]})
            for item in parsed:
                row_no, raw, rec = item
                if isinstance(rec, Reject):
                    c.rejects[row_no] = (rec, raw)
                else:
                    self._decide(c, item, history.get((rec["source"], rec["record_id"]), []),
                                 known, replay)  # fmt: skip
            tx.add_subjects(list(c.new_subjects.values()))
            tx.update_identities(list(c.changed.values()))
            if with_people:
                tx.add_people(persons, self.as_of)
            tx.supersede(c.supersede, self.as_of)
            tx.stage_rows(c.rows)
            tx.write_staged(self.as_of, self.ingested_at)
            tx.add_rejects([self._reject_row(r, raw) for r, raw in c.rejects.values()])
        self._count(parsed, c)  # only a committed chunk counts
        if fast is not None:
            self.report.accepted += fast.num_rows
            self.report.duplicates += dups

    def _split_fast(
        self, plain: Plain, slow_keys: set[Key], slow_recs: list[dict], history: dict
    ) -> tuple[pa.Table, int, list[int]]:
        """Split the plain rows into new records, exact duplicates and rows for `_decide`.

        A row is new when its record is in neither the store nor the rest of the chunk, a
        duplicate when it repeats the stored latest version of a record that appears once in
        the chunk; any other row, and any row about a person that a row for `_decide` is
        also about, goes to `_decide` so that the chunk's rows keep their order.
        Return the new rows, the number of duplicates and the file rows for `_decide`.
        """
        new: Iterable[int]
        fast = plain.rows
        if not history and not self.replays and plain.alone:  # a first load: every row is new
            new, slow, dups = range(fast.num_rows), [], 0
        else:
            new, slow, dups = [], [], 0
            keys = plain.keys()
            counts = Counter(keys)
            digests = fast["digest"].to_pylist()
            for i, key in enumerate(keys):
                if counts[key] > 1 or key in slow_keys or key in self.replays:
                    slow.append(i)
                elif key in history:
                    if history[key][-1].digest == digests[i]:
                        dups += 1
                    else:
                        slow.append(i)
                else:
                    new.append(i)
        slow_nids = {r["national_id"] for r in slow_recs if r["national_id"]}
        if slow_nids or slow:
            nids = fast["national_id"].to_pylist()
            slow_nids.update(nids[i] for i in slow)
            kept = [i for i in new if nids[i] not in slow_nids]
            slow = sorted([*slow, *(i for i in new if nids[i] in slow_nids)])
            new = kept
        row_nos = fast["file_row"].to_pylist() if slow else []
        if len(new) < fast.num_rows:
            fast = fast.take(pa.array(list(new), pa.int64()))
        return fast, dups, [row_nos[i] for i in slow]

    @staticmethod
    def _reparse(checked: Checked, row_nos: list[int]) -> list[Parsed]:
        """Parse these file rows of the chunk with the row parser."""
        first = checked.first_row
        raws = checked.batch.take(pa.array([n - first for n in row_nos], pa.int64())).to_pylist()
        return [(n, raw, checked.parser.parse(raw, n)) for n, raw in zip(row_nos, raws,
                                                                        strict=True)]  # fmt: skip

    def _decide(self, c: _Chunk, item: Parsed, versions: list, known: dict,
                replay: bool) -> None:  # fmt: skip
        """Classify one record as accepted, duplicate, correction or reject, and stage it."""
        row_no, raw, rec = item
        key, digest = (rec["source"], rec["record_id"]), rec["digest"]
        rp = self.replays.get(key)
        if rp is not None:
            if rp.at + 1 < len(rp.digests) and rp.digests[rp.at + 1] == digest:
                rp.at, rp.last = rp.at + 1, item
                if rp.at == len(rp.digests) - 1:
                    del self.replays[key]  # the file has caught up with the store
                c.status[row_no] = "duplicate"
                return
            del self.replays[key]  # the file goes its own way: take the row as it comes
        prev_seq = None
        if key in c.written:
            index, prev_version, prev_digest = c.written[key]
            prev_on = self.as_of
        elif versions:
            v = versions[-1]
            prev_seq, prev_version, prev_digest, prev_on = v.seq, v.version, v.digest, v.ingested_on
        else:
            prev_version = 0
        if prev_version and prev_digest == digest:
            c.status[row_no] = "duplicate"
            return
        if prev_version and prev_seq is not None and replay:
            older = [i for i, v in enumerate(versions[:-1]) if v.digest == digest]
            if older:
                self.replays[key] = _Replay([v.digest for v in versions], older[-1], item)
                c.status[row_no] = "duplicate"
                return
        if prev_version and self.as_of < prev_on:
            reason = (
                f"version {prev_version} of {key[0]}:{key[1]} was ingested on {prev_on}; "
                f"a correction cannot be ingested as of {self.as_of}"
            )
            c.rejects[row_no] = (Reject(row_no, "record_id", reason), raw)
            return
        if prev_seq is not None:
            c.supersede.append(prev_seq)
        elif prev_version:  # written earlier in this chunk: supersede it before it is written
            row = c.rows[index]
            c.rows[index] = row[:_SUPERSEDED] + (self.as_of,) + row[_SUPERSEDED + 1 :]
        c.status[row_no] = "correction" if prev_version else "accepted"
        subject_id = self._subject(c, rec, known) if rec["national_id"] else None
        c.written[key] = (len(c.rows), prev_version + 1, digest)
        warnings = json.dumps(rec["warnings"], ensure_ascii=False) if rec["warnings"] else None
        # In store.records.STAGE_COLUMNS order.
        c.rows.append((
            row_no, rec["source"], rec["record_id"], prev_version + 1, digest, subject_id,
            rec["national_id"], rec["type"], rec["occurred_at"], rec["quantity"],
            rec["points"], rec["case_no"], rec["status"], rec["attrs_json"], None, warnings,
        ))  # fmt: skip

    def _subject(self, c: _Chunk, rec: dict, known: dict) -> str:
        """Return the subject id for the record's national id, creating or updating it."""
        nid, attrs = rec["national_id"], rec["attrs"]
        identity = {f: attrs[f] for f in IDENTITY if f in attrs}
        identity["birth_date"] = date.fromisoformat(identity["birth_date"])
        if nid in c.new_subjects:
            c.new_subjects[nid].update(identity)
            return c.new_subjects[nid]["subject_id"]
        if nid not in known:
            sid = self.store.subject_id_for(nid)
            c.new_subjects[nid] = {"subject_id": sid, "national_id": nid, "kind": "person",
                                   "created_on": self.as_of, **identity}  # fmt: skip
            return sid
        subject = known[nid]
        if any(subject.get(f) != v for f, v in identity.items()):
            subject.update(identity)
            c.changed[subject["subject_id"]] = subject
        return subject["subject_id"]

    def _reject_row(self, r: Reject, raw: dict) -> dict:
        source = raw.get("source") or self.source
        return dict(
            file=self.label, file_digest=self.file_digest, row=r.row, field=r.field,
            source=None if source is None else str(source), reason=r.reason,
            raw=canonical_json(raw), rejected_on=self.as_of,
        )  # fmt: skip

    def _count(self, parsed: list[Parsed], c: _Chunk) -> None:
        report = self.report
        for row_no, raw, rec in parsed:
            if row_no in c.rejects:
                report.add_reject(c.rejects[row_no][0], raw.get("record_id"))
                continue
            status = c.status[row_no]
            if status == "duplicate":
                report.duplicates += 1
            elif status == "correction":
                report.corrections += 1
            else:
                report.accepted += 1
            if report.keep_results:
                report.results.append({"record_id": rec["record_id"], "status": status})
                rp = self.replays.get((rec["source"], rec["record_id"]))
                if rp is not None and rp.last[0] == row_no:
                    rp.result = len(report.results) - 1

    def finish(self) -> None:
        """Apply the last row of each record whose rows stopped short of the stored latest."""
        replays, self.replays = list(self.replays.values()), {}
        if not replays:
            return
        report = self.report
        before = len(report.results)
        self.apply([rp.last for rp in replays], replay=False)
        report.duplicates -= len(replays)  # each was counted as a duplicate when read
        if report.keep_results:
            fresh = report.results[before:]
            del report.results[before:]
            for rp, entry in zip(replays, fresh, strict=True):
                if rp.result is not None:
                    report.results[rp.result] = entry
