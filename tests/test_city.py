"""The synthetic city: valid ids, believable records, injected noise on record, determinism."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from socialcredit.city import DISTRICTS, SOURCES, TYPES, generate, national_id, write_city

RESIDENTS = 20_000


@pytest.fixture(scope="module")
def city():
    return generate(RESIDENTS, seed=7)


@pytest.fixture(scope="module")
def rows(city):
    """Records joined with their truth, as Python dicts."""
    records = city.records.append_column("true_id", city.truth["national_id"])
    records = records.append_column("error", city.truth["error"])
    return records.to_pylist()


def _bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_national_id_matches_the_gb_11643_example():
    assert national_id(date(1991, 1, 1), "360426", 3, "M") == "360426199101010071"
    made = national_id(date(1980, 2, 29), DISTRICTS[0][1], 0, "F")
    assert ric.is_valid(made)
    assert int(made[16]) % 2 == 0


@pytest.mark.parametrize(
    "args",
    [
        (date(1990, 1, 1), "52262", 1, "M"),
        (date(1990, 1, 1), "522622", 499, "M"),
        (date(1990, 1, 1), "522622", 1, "X"),
    ],
)
def test_national_id_refuses_bad_parts(args):
    with pytest.raises(ValueError):
        national_id(*args)


def test_resident_ids_are_valid_unique_and_agree_with_birth_date_and_sex(city):
    people = city.residents.to_pylist()
    ids = [p["national_id"] for p in people]
    assert len(set(ids)) == RESIDENTS
    assert all(ric.is_valid(i) for i in ids)
    for p in people:
        assert ric.get_birth_date(p["national_id"]) == p["birth_date"]
        assert p["sex"] == ("M" if int(p["national_id"][16]) % 2 else "F")
        assert p["district"] in {d for d, _ in DISTRICTS}
        assert p["address"].startswith(p["district"])
        assert len(p["phone"]) == 11 and p["phone"][:2] in {"13", "15", "16", "17", "18", "19"}
        assert 2 <= len(p["name"]) <= 4
    with_pinyin = sum(p["name_pinyin"] is not None for p in people) / RESIDENTS
    assert 0.08 < with_pinyin < 0.12


def test_the_same_arguments_give_byte_identical_tables():
    one, two = generate(3_000, seed=5), generate(3_000, seed=5)
    for name in ("residents", "records", "consents", "truth"):
        assert _bytes(getattr(one, name)) == _bytes(getattr(two, name)), name
    other = generate(3_000, seed=6)
    assert _bytes(one.records) != _bytes(other.records)


def test_every_source_and_type_is_present(city):
    assert set(city.records["source"].to_pylist()) == {s.id for s in SOURCES}
    assert set(city.records["type"].to_pylist()) == {t.type for t in TYPES}
    per_resident = city.records.num_rows / RESIDENTS
    assert 4 <= per_resident <= 8


def test_density_multiplies_the_record_rates():
    base = generate(5_000, seed=1).records.num_rows
    assert 2.7 < generate(5_000, seed=1, density=3.0).records.num_rows / base < 3.3


def test_record_ids_are_unique_within_their_source(city):
    sources, ids = city.records["source"].to_pylist(), city.records["record_id"].to_pylist()
    keys = list(zip(sources, ids, strict=True))
    assert len(set(keys)) == len(keys)
    assert all(record_id.startswith(source + "-") for source, record_id in keys)


def test_dates_lie_in_the_period_and_fields_in_their_ranges(city):
    occurred = city.records["occurred_at"]
    assert pc.min(occurred).as_py() >= city.start and pc.max(occurred).as_py() <= city.end
    for t, low, high in [
        ("finance.bank_arrears", 1, 6),
        ("volunteer.hours", 1, 8),
    ]:
        quantity = city.records.filter(pc.equal(city.records["type"], t))["quantity"]
        assert pc.min(quantity).as_py() >= low and pc.max(quantity).as_py() <= high
    for t, low, high in [("civic.commendation", 0.5, 30), ("shop.untrustworthy_other", -50, -5)]:
        points = city.records.filter(pc.equal(city.records["type"], t))["points"]
        assert points.null_count == 0
        assert pc.min(points).as_py() >= low and pc.max(points).as_py() <= high
    assert city.records.filter(pc.is_valid(city.records["points"])).num_rows == sum(
        city.records.filter(pc.equal(city.records["type"], t)).num_rows
        for t in ("civic.commendation", "shop.untrustworthy_other")
    )


@pytest.mark.parametrize(
    "clearing, cause",
    [("court.obligation_performed", "court.dishonest_debtor"), ("tax.arrears_paid", "tax.evasion")],
)
def test_clearings_share_case_no_with_an_earlier_cause_of_the_same_person(rows, clearing, cause):
    causes = {r["case_no"]: r for r in rows if r["type"] == cause}
    assert len(causes) == sum(r["type"] == cause for r in rows)  # case numbers are unique
    cleared = [r for r in rows if r["type"] == clearing]
    assert 0.3 * len(causes) < len(cleared) < 0.7 * len(causes)
    for r in cleared:
        origin = causes[r["case_no"]]
        assert origin["true_id"] == r["true_id"]
        assert origin["occurred_at"] < r["occurred_at"]


def test_records_without_id_come_from_rail_utility_and_shop_at_about_3_percent(rows):
    by_source = Counter(r["source"] for r in rows)
    missing = Counter(r["source"] for r in rows if r["national_id"] is None)
    assert set(missing) == {"rail", "utility", "shop"}
    for source in missing:
        assert 0.02 < missing[source] / by_source[source] < 0.04
    for r in rows:
        if r["national_id"] is None:
            assert r["name"] and r["birth_date"]


def test_every_error_is_on_record_in_the_truth(city, rows):
    kinds = Counter(r["error"] for r in rows)
    assert set(kinds) == {
        None,
        "missing_id",
        "typo_name",
        "typo_birth_date",
        "swapped_day_month",
        "wrong_person",
    }
    assert 0.0005 < kinds["wrong_person"] / len(rows) < 0.002
    people = {p["national_id"]: p for p in city.residents.to_pylist()}
    for r in rows:
        true = people[r["true_id"]]
        error = r["error"]
        if error == "wrong_person":
            assert r["national_id"] != r["true_id"] and r["national_id"] in people
        elif error is None:
            assert r["national_id"] == r["true_id"]
        else:
            assert r["national_id"] is None
        if r["national_id"] is None and error != "typo_name":
            assert r["name"] == true["name"]
        if error == "typo_name":
            assert r["name"] != true["name"]
        elif error == "typo_birth_date":
            assert abs(r["birth_date"] - true["birth_date"]) == timedelta(days=1)
        elif error == "swapped_day_month":
            b = true["birth_date"]
            assert r["birth_date"] == date(b.year, b.day, b.month) != b
        elif r["birth_date"] is not None:
            assert r["birth_date"] == true["birth_date"]


def test_pinyin_typos_drop_the_tone_marks(city, rows):
    pinyin = {p["national_id"]: p["name_pinyin"] for p in city.residents.to_pylist()}
    romanised = [r for r in rows if r["error"] == "typo_name" and r["name"].isascii()]
    assert romanised
    for r in romanised:
        assert pinyin[r["true_id"]] is not None and r["name"] != pinyin[r["true_id"]]
        assert r["name"].replace(" ", "").isalpha()


def test_a_few_residents_are_on_the_debtor_list_and_a_few_evade_fares_repeatedly(rows):
    debtors = {r["true_id"] for r in rows if r["type"] == "court.dishonest_debtor"}
    assert 0.005 < len(debtors) / RESIDENTS < 0.04
    evasions: dict[str, list[date]] = {}
    for r in rows:
        if r["type"] == "rail.fare_evasion":
            evasions.setdefault(r["true_id"], []).append(r["occurred_at"])
    repeat = sum(
        any(b - a < timedelta(days=365) for a, b in zip(sorted(d), sorted(d)[2:], strict=False))
        for d in evasions.values()
    )
    assert 0.01 < repeat / RESIDENTS < 0.06


def test_negative_records_are_heavy_tailed(rows):
    negative = {
        "court.dishonest_debtor",
        "tax.evasion",
        "finance.bank_arrears",
        "finance.private_lending_breach",
        "utility.theft",
        "shop.untrustworthy_other",
    }
    counts = Counter(r["true_id"] for r in rows if r["type"] in negative)
    top = sum(c for _, c in counts.most_common(RESIDENTS // 20))
    assert top / sum(counts.values()) > 0.5


def test_consents(city):
    consents = city.consents.to_pylist()
    shop = {c["national_id"] for c in consents if c["source"] == "shop" and c["action"] == "grant"}
    scoring = {c["national_id"] for c in consents if c["source"] is None}
    assert 0.37 < len(shop) / RESIDENTS < 0.43
    assert 0.67 < len(scoring) / RESIDENTS < 0.73
    grants = {
        c["national_id"]: c["on"]
        for c in consents
        if c["source"] == "shop" and c["action"] == "grant"
    }
    revokes = [c for c in consents if c["action"] == "revoke"]
    assert 0 < len(revokes) < 0.1 * len(shop)
    assert all(c["source"] == "shop" and c["on"] > grants[c["national_id"]] for c in revokes)


def test_write_city_writes_every_format_and_reads_back(city, tmp_path):
    paths = write_city(city, tmp_path)
    assert [p.stem for p in paths] == [s.id for s in SOURCES]
    assert {p.suffix for p in paths} == {".csv", ".jsonl", ".parquet"}
    counts = Counter(city.records["source"].to_pylist())
    for path in paths:
        if path.suffix == ".csv":
            table = pacsv.read_csv(path)
        elif path.suffix == ".jsonl":
            table = pajson.read_json(path)
            first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
            assert date.fromisoformat(first["occurred_at"])
            assert None not in first.values()
        else:
            table = pq.read_table(path)
        assert table.num_rows == counts[path.stem], path.name
        assert {"record_id", "type", "occurred_at", "name"} <= set(table.column_names)
    assert pacsv.read_csv(tmp_path / "consents.csv").num_rows == city.consents.num_rows
    assert pq.read_table(tmp_path / "truth" / "truth.parquet").num_rows == city.records.num_rows
    court = (tmp_path / "court.csv").read_text(encoding="utf-8").splitlines()[1]
    assert re.search(r",\d{4}-\d{2}-\d{2},", court)
