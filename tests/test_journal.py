"""The journal masks personal data before storing, stays within its bounds, searches, exports, and records
exchanges through the httpx transports, the ASGI middleware and real TLS; its admin routes answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import random
import re
import unicodedata
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from s24kit.simulator.admin import admin_routes
from s24kit.simulator.journal import (
    AsyncJournalTransport,
    Journal,
    JournalMiddleware,
    JournalTransport,
    journal_routes,
    mask_rrn,
    mask_text,
)
from s24kit.simulator.pki import ensure_pki
from s24kit.simulator.serving import serving

UTC = dt.UTC
CLAIM = {"request_id": "req-20261020-0001",
         "insured": {"name": "홍길동", "birth_date": "1990-01-01", "identity_token": "tok-7Hx9q2LmZ",
                     "resident_number_masked": "900101-1******", "relation": "self"},
         "documents": [{"patient": {"patient_number": "P0001234", "name": "홍길동"},
                        "provider": {"name": "하늘정형외과의원", "representative": "박서준"},
                        "prescriber": {"name": "김의사", "license_type": "physician"},
                        "items": [{"name": "재진진찰료-의원", "note": "주민번호 8504122345678"}]}]}


def _record(journal: Journal, **overrides) -> str:
    fields = {"party": "relay→provider:99350012", "method": "POST",
              "url": "https://127.0.0.1:8443/s24/v1/documents:fetch", "route": "/s24/v1/documents:fetch",
              "request_headers": {"content-type": "application/json"}, "request_body": b'{"a": 1}', "status": 200,
              "response_headers": {"content-type": "application/json"}, "response_body": b'{"ok": true}',
              "started_at": dt.datetime(2026, 11, 1, 1, 0, tzinfo=UTC), "duration_ms": 3.5}
    return journal.record(**{**fields, **overrides})


# -- masking ------------------------------------------------------------------------------------------------


def test_json_bodies_are_masked_by_meaning():
    journal = Journal()
    exchange = _record(journal, request_body=json.dumps(CLAIM, ensure_ascii=False).encode(),
                       response_body=json.dumps(CLAIM))  # ASCII-escaped Hangul (\\ud64d…) too
    entry = journal.get(exchange)
    for side in ("request", "response"):
        body = json.loads(entry[side]["body"])
        assert body["insured"] == {"name": "홍**", "birth_date": "1990-**-**", "identity_token": "tok-…",
                                   "resident_number_masked": "90****-1******", "relation": "self"}
        document = body["documents"][0]
        assert document["patient"] == {"patient_number": "P*******", "name": "홍**"}
        assert document["provider"] == {"name": "하늘정형외과의원", "representative": "박**"}
        assert document["prescriber"]["name"] == "김**"
        # a fee item's name is not a person's: it stays; a resident number in free text does not
        assert document["items"][0] == {"name": "재진진찰료-의원", "note": "주민번호 85****-2******"}
    raw = journal._db.execute("SELECT request_body || response_body FROM exchanges").fetchone()[0]
    assert "홍길동" not in raw and "1234567" not in raw and "7Hx9q2LmZ" not in raw and "900101" not in raw


def test_personal_values_are_scrubbed_wherever_else_the_exchange_carries_them():
    """A name found in the request's patient is masked in the answer's detail, the URL, headers and errors."""
    journal = Journal()
    detail = {"code": "unknown_patient", "detail": "환자 홍길동 (1990-01-01, 19900101) 없음: tok-7Hx9q2LmZ",
              "echo": json.dumps(CLAIM), "nested": json.dumps(json.dumps(CLAIM))}
    exchange = _record(journal, url="https://h.test/x?who=%ED%99%8D%EA%B8%B8%EB%8F%99&b=1990-01-01",
                       request_headers={"x-patient": "홍길동", "x-token": "tok-7Hx9q2LmZ"},
                       request_body=json.dumps(CLAIM, ensure_ascii=False).encode(),
                       response_body=json.dumps(detail, ensure_ascii=False), error="KeyError: '박서준'")
    stored = json.dumps(journal.get(exchange), ensure_ascii=False)
    for value in ("홍길동", "박서준", "김의사", "1990-01-01", "19900101", "7Hx9q2LmZ", "%ED%99%8D%EA%B8%B8",
                  "\\ud64d\\uae38\\ub3d9", "\\ubc15\\uc11c\\uc900"):
        assert value not in stored, value
    assert "재진진찰료-의원" in stored  # in the clear, in the request as in the echo
    entry = journal.get(exchange)
    assert json.loads(entry["response"]["body"])["detail"] == "환자 홍** (1990-**-**, 1990****) 없음: tok-…"
    assert entry["request"]["headers"] == {"x-patient": "홍**", "x-token": "tok-…"}
    assert entry["error"] == "KeyError: '박**'"


@pytest.mark.parametrize("name", ['Kim "Bob" Lee', '홍"길"동', "홍길동\t", "Back\\slash Kim"])
@pytest.mark.parametrize("ensure_ascii", [False, True])
def test_a_name_that_json_escapes_is_masked_as_json_writes_it(name: str, ensure_ascii: bool):
    """Quotes, backslashes and control characters travel escaped (``Kim \\"Bob\\"``): they were stored in the
    clear when only the decoded value was looked for."""
    journal = Journal()
    body = {"patient": {"name": name, "birth_date": "1990-01-01"}, "note": f"{name} 내원",
            "echo": json.dumps({"patient": {"name": name}}, ensure_ascii=ensure_ascii)}
    exchange = _record(journal, request_body=json.dumps(body, ensure_ascii=ensure_ascii).encode())
    journal.flush()
    stored = journal._db.execute("SELECT request_body FROM exchanges").fetchone()[0]
    for part in ("Bob", "Lee", "길", "동", "slash"):
        assert part not in stored and part not in json.loads(stored)["note"], (part, stored)
    assert json.loads(journal.get(exchange)["request"]["body"])["patient"]["name"] == name[0] + "*" * (len(name) - 1)


def test_a_value_escaped_more_than_json_needs_is_masked_as_the_body_spells_it():
    journal = Journal()
    spelled = '{"patient": {"name": "\\u0048ong Gildong"}, "note": "\\u0048ong Gildong came"}'
    _record(journal, request_body=spelled.encode())
    journal.flush()
    stored = journal._db.execute("SELECT request_body FROM exchanges").fetchone()[0]
    assert "Gildong" not in stored and json.loads(stored)["note"] == "H" + "*" * 11 + " came"


def _plain_collection(text: str) -> set[str]:
    """The personal values in JSON text, by the definition spelled as one plain expression: a personal key and
    its string value, or a parent (``patient``) whose object has a ``name`` at its top level."""
    from s24kit.simulator.masking import personal_fields

    fields = personal_fields()
    string = r'"((?:[^"\\]|\\.)*)'
    member = r'"(?:[^"\\]|\\.)*"'
    body = rf'(?:[^{{}}"]|{member}|\{{(?:[^{{}}"]|{member})*\}})*?'
    keys = "|".join(map(re.escape, fields.always))
    parents = "|".join(map(re.escape, fields.within["name"]))
    plain = re.compile(rf'"(?:{keys})"\s*:\s*{string}|"(?:{parents})"(?=\s*:\s*\{{{body}"name"\s*:\s*{string})')
    found = set()
    for view in (text, text.replace('\\"', '"')):
        for match in plain.finditer(view):
            value = match[1] if match[1] is not None else match[2]
            try:
                found.add(json.loads(f'"{value}"'))
            except json.JSONDecodeError:  # cut inside an escape: the value as it stands
                found.add(value)
    return {v for v in found if len(v) >= 2}


def test_collection_finds_every_value_the_plain_definition_finds():
    """The journal looks for each personal key with str.find and reads the value there; over shuffled, nested,
    escaped and cut JSON it finds at least what one plain expression over the whole text finds."""
    from s24kit.simulator.masking import Scrubber

    rng = random.Random(14)
    pieces = [json.dumps(CLAIM, ensure_ascii=False), json.dumps(CLAIM), json.dumps(json.dumps(CLAIM)),
              '{"patient": {"id": 1, "nested": {"name": "가짜"}, "name": "진짜이름"}}', '{"items": [{"name": "x"}]}',
              '{"provider": {"name": "하늘의원", "representative": "윤대표"}}', '"patient": {"name": "끝이잘린', ", ",
              '{"insured": {"name": "이\\"중\\"", "birth_date": "2001-02-03"}}',
              '{"prescriber" : { "name" : "최약사" }}']
    checked = 0
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.3:
            text = text[:rng.randint(0, len(text))]
        expected = _plain_collection(text)
        scrubber = Scrubber()
        scrubber.collect_text(text)
        assert expected <= set(scrubber.forms), text
        checked += bool(expected)
    assert checked > 300  # the cases did hold personal values


def test_names_are_masked_in_decomposed_text_and_nowhere_else():
    """A name is masked in NFC and in NFD, whichever form the text around it is in; fee items stay."""
    name = "홍길동"
    for form in ("NFC", "NFD"):
        for around in ("NFC", "NFD"):
            body = {"patient": {"name": unicodedata.normalize(form, name)},
                    "note": unicodedata.normalize(form, f"{name} 재진진찰료-의원")}
            text = unicodedata.normalize(around, json.dumps(body, ensure_ascii=False))
            stored = mask_text(text)
            assert name not in stored and unicodedata.normalize("NFD", name) not in stored, (form, around)
            assert unicodedata.normalize(around, "재진진찰료-의원") in stored


def test_a_scrubber_of_many_people_masks_what_trying_every_form_masks(monkeypatch):
    """A report's scrubber holds a scenario's people (hundreds of forms) and looks each text up by the forms'
    beginnings; over texts built from those people, their masks and other words it masks exactly what trying
    every form in turn masks."""
    from s24kit.simulator import masking

    rng = random.Random(7)
    surnames, given = "김이박최정강조윤장임", "민서지현우준하은수영도"
    people = [(rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.randint(1, 3))),
               f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}") for _ in range(120)]
    scrubber = masking.Scrubber()
    for name, birth in people:
        scrubber.add_all([("name", name), ("birth_date", birth), ("identity_token", f"itk_{birth}{name}")])
    # hostile values holding a mask's "*": replacing a name can make one of them appear
    scrubber.add_all(("name", f"*{c}") for c in surnames + given)
    words = [w for name, birth in people[:30] for w in (name, birth, birth.replace("-", ""), masking.mask_name(name),
                                                         unicodedata.normalize("NFD", name))]
    words += ["재진진찰료-의원", " ", "-", "19", "**", "%EA%B9%80", "\\uae40", "itk_", "0", "1", *surnames, *given]
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    assert len(scrubber.forms) > 10 * masking.INDEXED
    indexed = [scrubber.text(t) for t in texts]
    monkeypatch.setattr(masking, "INDEXED", 10**9)
    masking._grouped.cache_clear()
    plain = masking.Scrubber()
    plain.forms = dict(scrubber.forms)
    assert indexed == [plain.text(t) for t in texts]
    assert sum(a != b for a, b in zip(indexed, texts, strict=True)) > 1000  # the texts did hold people


def test_personal_fields_come_from_the_schemas():
    """Every x-personal property of the schemas is masked, under the parent it has in documents."""
    from s24kit.simulator.masking import personal_fields

    fields = personal_fields()
    assert fields.kind("patient", "name") == fields.kind("insured", "name") == "name"
    assert fields.kind("provider", "name") is None and fields.kind("items", "name") is None
    assert fields.kind(None, "birth_date") == "birth_date" and fields.kind("x", "identity_token") == "identity_token"
    assert fields.kind("provider", "representative") == "name"


def test_text_bodies_urls_headers_and_errors_are_masked():
    journal = Journal()
    exchange = _record(journal, url="https://h.test/x?rrn=9001011234567",
                       request_headers={"Authorization": "Bearer secret", "Cookie": "sid=1",
                                        "X-Resident": "900101-1234567"},
                       request_body="환자 900101-1234567 진료", response_headers=[(b"set-cookie", b"sid=2")],
                       response_body=b"plain 0101013456789 text \\u0039\\u0030\\u0030\\u0031\\u0030\\u0031-1234567",
                       error="boom 900101-1234567")
    entry = journal.get(exchange)
    assert entry["url"].endswith("rrn=90****-1******")
    assert entry["request"]["headers"] == {"authorization": "***", "cookie": "***", "x-resident": "90****-1******"}
    assert entry["response"]["headers"] == {"set-cookie": "***"}
    assert entry["request"]["body"] == "환자 90****-1****** 진료"
    assert entry["response"]["body"] == "plain 01****-3****** text 90****-1******"
    assert entry["error"] == "boom 90****-1******"


def test_numbers_that_are_not_resident_numbers_stay():
    text = ('{"amount": 1234567890123, "code": "9913011234567", "other": "8504120345678", "id": "x-000042", '
            '"masked": "850412-2******"}')
    # 13 digits with an impossible month (13) or G digit 0/9 are left alone; a masked number loses its birth date.
    assert mask_text(text) == text.replace("850412-2", "85****-2")
    assert mask_text("99011312345678") == "99011312345678"  # 14 digits: not a resident number


def _spec_mask_rrn(text: str) -> str:
    """The definition, spelled plainly: YYMMDD, then -G (any digit) and six digits or six asterisks, or G in 1–8
    and six digits; no digit around. The year and G stay."""
    spec = re.compile(r"(?<!\d)(\d\d)(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:-(\d)(?:\d{6}|\*{6})|([1-8])\d{6})"
                      r"(?![\d*])")
    return spec.sub(lambda m: f"{m[1]}****-{m[2] or m[3]}******", text)


def test_resident_number_masking_follows_its_definition():
    """The journal's fast spelling (anchored at the month) masks exactly what the plain definition masks."""
    rng = random.Random(24)
    pieces = [*"0123456789" * 4, *"0011", "-", "-", "x", " ", '"', "٣", "８", "가"]  # ٣ ８: other scripts' digits
    masked = 0
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.5:  # a plausible number, with a neighbour that may or may not be a digit
            number = (f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 31):02d}"
                      f"{rng.choice(['-', ''])}{rng.randint(0, 9)}"
                      f"{rng.choice([f'{rng.randint(0, 999_999):06d}', '******'])}")
            at = rng.randint(0, len(text))
            after = rng.choice(['', 'x', '0', '٣', '*'])
            text = f"{text[:at]}{rng.choice(['', 'x', '٣', '-'])}{number}{after}{text[at:]}"
        assert mask_rrn(text) == _spec_mask_rrn(text), text
        masked += mask_rrn(text) != text
    assert masked > 500  # the cases did exercise masking


def test_resident_number_masking_follows_its_definition_in_long_texts():
    """Over long texts (Korean words, other scripts' digits, several numbers of both spellings, fee amounts and
    dates), masking found at the hyphen and, for thirteen digits, only where a long run of digits may be, masks
    exactly what the plain definition masks."""
    rng = random.Random(25)
    words = ["김민준", "가각간", "경기도", "재진진찰료-의원", '"copay": 5700, ', "2026-09-28", "R20260928-00000000-001",
             "٣", "٠١٢", "８", "０１２", "\U000104a3", " ", "-", "*", "x", *"0123456789"]
    masked = 0
    for _ in range(3000):
        parts = [rng.choice(words) for _ in range(rng.randint(0, 40))]
        for _ in range(rng.randint(0, 3)):
            year = rng.choice(["85", "٨٥", "８５", "0\U000104a3"])
            number = (f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 31):02d}{rng.choice(['-', ''])}"
                      f"{rng.randint(0, 9)}{rng.choice([f'{rng.randint(0, 999_999):06d}', '٣٣٣٣٣٣', '******'])}")
            parts.insert(rng.randint(0, len(parts)), number)
        text = "".join(parts)
        assert mask_rrn(text) == _spec_mask_rrn(text), text
        masked += mask_rrn(text) != text
    assert masked > 300  # the cases did hold resident numbers


def test_a_person_written_in_other_digits_does_not_leak_through_the_quick_paths():
    """A resident number of thirteen digits, some of them another script's, inside Korean text is masked; so is
    one in ASCII digits next to Hangul and one hyphenated among fee amounts."""
    for text, kept in (("환자 김민준 ٨٥04122٣٤٥٦٧٨ 내원", "٨٥****-2******"),
                       ("가각간8504122345678각", "85****-2******"),
                       ('{"copay": 5700, "note": "850412-2345678", "date": "2026-09-28"}', "85****-2******")):
        stored = mask_rrn(text)
        assert kept in stored and "0412" not in stored, (text, stored)


def test_the_digit_lead_bytes_cover_every_decimal_digit():
    """The quick look for thirteen digits knows every script's decimal digits by their first UTF-8 byte."""
    from s24kit.simulator.masking import DIGIT_LEAD_BYTES

    digits = (chr(c) for c in range(0x80, 0x110000) if chr(c).isdecimal())
    assert {c.encode()[0] for c in digits} <= DIGIT_LEAD_BYTES


def test_long_bodies_are_truncated_with_a_marker_and_still_masked_at_the_cut():
    journal = Journal(body_limit=100)
    body = ("가" * 30).encode() + b"-" * 5 + b"900101-1234567" + b"x" * 500  # the number straddles byte 100
    entry = journal.get(_record(journal, request_body=body))
    stored = entry["request"]["body"]
    assert stored.startswith("가" * 30)
    assert "1234" not in stored.split("…[truncated")[0][-10:]
    assert f"…[truncated: {len(body)} bytes, first 100 kept]" in stored
    assert len(stored.split("…[truncated")[0].encode()) <= 100


def test_binary_bodies_are_not_stored():
    journal = Journal()
    entry = journal.get(_record(journal, response_body=b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(100)))
    assert entry["response"]["body"] == "[binary body: 110 bytes, not UTF-8]"


# -- bounds -------------------------------------------------------------------------------------------------


def test_count_bound_drops_the_oldest_and_ids_keep_increasing():
    journal = Journal(max_entries=5)
    ids = [_record(journal, party=f"p{i}") for i in range(12)]
    assert ids[0] == "x-000001" and ids[-1] == "x-000012"
    assert journal.count() == 5
    assert [e["id"] for e in journal.search()] == ids[:-6:-1]
    assert journal.get(ids[6]) is None and journal.get(ids[7]) is not None
    assert journal.clear() == 5
    assert _record(journal) == "x-000013"


def test_byte_bound_drops_the_oldest():
    journal = Journal(max_bytes=5_000)
    ids = [_record(journal, request_body=b"x" * 900) for _ in range(20)]
    assert journal.stored_bytes <= 5_000
    kept = [e["id"] for e in journal.search(limit=1000)]
    assert kept == ids[::-1][:len(kept)] and 3 <= len(kept) < 6
    stored = journal._db.execute("SELECT SUM(size), COUNT(*) FROM exchanges").fetchone()
    assert stored == (journal.stored_bytes, journal.count())
    big = _record(journal, request_body=b"y" * 60_000)  # alone above the bound: the newest still stays
    assert journal.count() == 1 and journal.get(big) is not None


def test_a_reopened_file_continues_ids_and_totals(tmp_path):
    path = tmp_path / "journal.sqlite"
    with Journal(path, max_entries=3) as journal:
        for _ in range(4):
            _record(journal)
        total = journal.stored_bytes
    assert journal._db is not None
    with Journal(path, max_entries=3) as journal:
        assert journal.count() == 3 and journal.stored_bytes == total
        assert _record(journal) == "x-000005"
        journal.clear()
    with Journal(path, max_entries=2) as journal:
        assert _record(journal) == "x-000006"
        assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _bytes_written() -> int:
    """Bytes this process has handed to write calls so far (any file system, tmpfs too)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("wchar"))


def test_an_entry_committed_alone_writes_a_few_pages_not_a_large_one(tmp_path):
    """A journal mostly commits an entry or two at a time (the writer commits what is queued), trimming as it
    goes: each such commit must write a few small pages. 64 kB pages wrote about 165 kB a commit here (23 kB
    with SQLite's 4 kB pages) and tripled a soak's p99 (docs/performance.md §8.1)."""
    if not Path("/proc/self/io").exists():
        pytest.skip("needs Linux's /proc/self/io")
    body = '{"x":"' + "가" * 300 + '"}'
    with Journal(tmp_path / "trickle.sqlite", max_entries=200) as journal:
        def one() -> None:
            journal.record(party="relay→x", method="POST", url="https://h/x", request_body=body,
                           response_body=body, status=200)
            journal.count()  # a read commits what is queued: this entry alone

        for _ in range(260):  # past max_entries: every commit also trims the oldest
            one()
        before = _bytes_written()
        for _ in range(200):
            one()
        per_commit = (_bytes_written() - before) / 200
    assert per_commit < 64_000, per_commit


# -- reading ------------------------------------------------------------------------------------------------


@pytest.fixture
def filled() -> Journal:
    journal = Journal()
    base = dt.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    _record(journal, party="relay→provider:99350012", started_at=base)
    _record(journal, party="relay→provider:99350099", route="/s24/v1/visits:search", status=404,
            response_body='{"code": "unknown_patient"}', started_at=base + dt.timedelta(minutes=1))
    _record(journal, party="relay→insurer:I01", method="get", route="/insurer/v1/claims", status=None,
            request_body=None, response_body=None, error="ConnectError: refused",
            started_at=(base + dt.timedelta(minutes=2)).astimezone(dt.timezone(dt.timedelta(hours=9))).isoformat())
    return journal


def test_search_filters(filled):
    parties = lambda **kw: [e["party"] for e in filled.search(**kw)]  # noqa: E731
    assert parties() == ["relay→insurer:I01", "relay→provider:99350099", "relay→provider:99350012"]
    assert parties(party="relay→provider:*") == ["relay→provider:99350099", "relay→provider:99350012"]
    assert parties(party="relay→provider:99350012") == ["relay→provider:99350012"]
    assert parties(party="provider:99350012") == ["relay→provider:99350012"]  # either side of the arrow
    assert parties(party="relay") == parties() and parties(party="insurer:*") == ["relay→insurer:I01"]
    assert parties(party="relay→*") == parties() and parties(party="provider:9935001") == []
    assert parties(route="/s24/v1/visits:search") == ["relay→provider:99350099"]
    assert parties(method="GET") == ["relay→insurer:I01"]
    assert parties(status=404) == ["relay→provider:99350099"]
    assert parties(text="unknown_patient") == ["relay→provider:99350099"]
    assert parties(since="2026-11-01T09:01:00+09:00") == ["relay→insurer:I01", "relay→provider:99350099"]
    assert parties(limit=1, offset=1) == ["relay→provider:99350099"]
    assert parties(party="nobody") == []
    assert filled.search(method="GET")[0]["error"] == "ConnectError: refused"
    assert filled.get("x-999999") is None and filled.get("nonsense") is None


def test_export_is_masked_and_oldest_first(filled, tmp_path):
    _record(filled, request_body=json.dumps(CLAIM, ensure_ascii=False))
    out = tmp_path / "journal.jsonl"
    assert filled.export_jsonl(out, batch=2) == 4
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [e["id"] for e in lines] == ["x-000001", "x-000002", "x-000003", "x-000004"]
    assert "홍길동" not in out.read_text(encoding="utf-8") and "홍**" in lines[-1]["request"]["body"]


# -- httpx transports ---------------------------------------------------------------------------------------


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"echo": json.loads(request.content), "patient": {"name": "김하늘"}})


def test_sync_transport_records_and_names_the_exchange():
    journal = Journal()
    client = httpx.Client(transport=JournalTransport(httpx.MockTransport(_echo), journal, "relay→?"))
    response = client.post("https://insurer.test/insurer/v1/claims", json=CLAIM,
                           extensions={"s24_route": "/insurer/v1/claims", "s24_party": "insurer:I01"})
    assert response.status_code == 201 and response.json()["patient"]["name"] == "김하늘"  # the real body
    entry = journal.get(response.extensions["s24_exchange"])
    assert entry["party"] == "relay→insurer:I01" and entry["route"] == "/insurer/v1/claims"
    assert entry["status"] == 201 and entry["tls_peer"] is None and entry["duration_ms"] >= 0
    assert json.loads(entry["request"]["body"])["insured"]["name"] == "홍**"
    assert json.loads(entry["response"]["body"])["patient"]["name"] == "김**"


def test_sync_transport_records_errors_and_reraises():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    journal = Journal()
    client = httpx.Client(transport=JournalTransport(httpx.MockTransport(refuse), journal, "relay→provider:1"))
    with pytest.raises(httpx.ConnectError):
        client.get("https://provider.test/s24/v1/health")
    (entry,) = journal.search()
    assert entry["status"] is None and entry["error"] == "ConnectError: connection refused"
    assert entry["route"] == "/s24/v1/health"


def test_gzip_responses_are_journalled_decoded_and_delivered_intact():
    payload = json.dumps({"patient": {"name": "홍길동"}}, ensure_ascii=False).encode()

    def zipped(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=gzip.compress(payload))

    journal = Journal()
    client = httpx.Client(transport=JournalTransport(httpx.MockTransport(zipped), journal, "x"))
    response = client.get("https://h.test/")
    assert response.content == payload
    assert journal.get(response.extensions["s24_exchange"])["response"]["body"] == '{"patient": {"name": "홍**"}}'
    # Without a response wrapped around them (the suite's session): the raw bytes, the decoded ones, the id.
    transport = JournalTransport(httpx.MockTransport(zipped), journal, "x")
    answer, raw, body, exchange = transport.exchange(httpx.Request("GET", "https://h.test/again"))
    assert (answer.status_code, gzip.decompress(raw), body) == (200, payload, payload)
    assert journal.get(exchange)["url"] == "https://h.test/again"


def _tiny_app() -> Starlette:
    async def claims(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"received": len(body), "insured": {"name": "김하늘"}}, status_code=202)

    async def boom(request: Request) -> Response:
        raise RuntimeError("handler failed")

    return Starlette(routes=[Route("/relay/v1/claims/{claim_id}/events", claims, methods=["POST"]),
                             Route("/boom", boom)])


def test_async_transport_over_asgi():
    journal = Journal()

    async def run() -> httpx.Response:
        transport = AsyncJournalTransport(httpx.ASGITransport(_tiny_app()), journal, "insurer:I01→relay")
        async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:
            return await client.post("/relay/v1/claims/C-1/events", json=CLAIM)

    response = asyncio.run(run())
    assert response.status_code == 202 and response.json()["insured"]["name"] == "김하늘"
    entry = journal.get(response.extensions["s24_exchange"])
    assert entry["party"] == "insurer:I01→relay" and entry["status"] == 202 and entry["tls_peer"] is None
    assert json.loads(entry["response"]["body"])["insured"]["name"] == "김**"


def test_async_transport_records_errors():
    async def run() -> None:
        transport = AsyncJournalTransport(httpx.ASGITransport(_tiny_app(), raise_app_exceptions=True), journal, "p")
        async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as client:
            await client.get("/boom")

    journal = Journal()
    with pytest.raises(RuntimeError):
        asyncio.run(run())
    assert journal.search()[0]["error"] == "RuntimeError: handler failed"


def test_real_tls_records_the_peer_certificate(tmp_path):
    pki = ensure_pki(tmp_path / "pki")
    journal = Journal()
    app = JournalMiddleware(_tiny_app(), journal, "provider-agent→relay")
    with serving(app, tls=pki.server_context("relay-server", require_client_cert=True)) as served:
        transport = JournalTransport(httpx.HTTPTransport(verify=pki.client_context("provider-agent")), journal,
                                     "test→relay")
        with httpx.Client(transport=transport, base_url=served.url) as client:
            response = client.post("/relay/v1/claims/C-1/events", json={"x": 1})

        async def over_async() -> httpx.Response:
            inner = httpx.AsyncHTTPTransport(verify=pki.client_context("provider-agent"))
            async with httpx.AsyncClient(transport=AsyncJournalTransport(inner, journal, "test→relay"),
                                         base_url=served.url) as client:
                return await client.post("/relay/v1/claims/C-2/events", json={"x": 2})

        async_response = asyncio.run(over_async())
    assert response.status_code == 202 and async_response.status_code == 202
    assert journal.get(async_response.extensions["s24_exchange"])["tls_peer"]["sha256"] == \
        journal.get(response.extensions["s24_exchange"])["tls_peer"]["sha256"]
    outgoing = journal.get(response.extensions["s24_exchange"])
    assert "CN=relay-server.s24kit.test" in outgoing["tls_peer"]["subject"] and "CA" in outgoing["tls_peer"]["issuer"]
    assert len(outgoing["tls_peer"]["sha256"]) == 64 and outgoing["tls_peer"]["tls_version"].startswith("TLS")
    assert outgoing["tls_peer"]["cipher"] and outgoing["tls_peer"]["not_after"] > "2026"
    incoming = journal.search(party="provider-agent→relay")[-1]
    assert incoming["route"] == "/relay/v1/claims/{claim_id}/events" and incoming["status"] == 202
    assert incoming["peer"].startswith("127.0.0.1:")
    assert "CN=provider-agent.s24kit.test" in incoming["tls_peer"]["subject"]  # the client's certificate


# -- ASGI middleware ----------------------------------------------------------------------------------------


def test_middleware_passes_the_whole_body_and_stores_a_bounded_masked_copy():
    journal = Journal(body_limit=1_000)
    client = TestClient(JournalMiddleware(_tiny_app(), journal, "agent→relay"), raise_server_exceptions=False)
    body = json.dumps({"patient": {"name": "홍길동"}, "pad": "x" * 50_000}, ensure_ascii=False).encode()
    response = client.post("/relay/v1/claims/C-9/events", content=body, headers={"content-type": "application/json"})
    assert response.json()["received"] == len(body)
    (entry,) = journal.search()
    assert entry["route"] == "/relay/v1/claims/{claim_id}/events" and entry["method"] == "POST"
    assert entry["request"]["body"].startswith('{"patient": {"name": "홍**"}')
    assert f"[truncated: {len(body)} bytes, first 1000 kept]" in entry["request"]["body"]
    assert json.loads(entry["response"]["body"])["insured"]["name"] == "김**"
    assert client.get("/boom").status_code == 500
    failed = journal.search(route="/boom")[0]
    assert failed["error"] == "RuntimeError: handler failed"


# -- admin routes -------------------------------------------------------------------------------------------


@pytest.fixture
def admin(filled) -> TestClient:
    return TestClient(Starlette(routes=admin_routes(journal_routes(filled), "journal test")))


def test_admin_lists_and_gets(admin):
    listed = admin.get("/__admin/journal", params={"party": "relay→provider:*", "limit": "1"}).json()
    assert listed["returned"] == 1 and listed["stored"] == 3
    assert listed["entries"][0]["party"] == "relay→provider:99350099"
    assert admin.get("/__admin/journal", params={"status": "404", "q": "unknown"}).json()["returned"] == 1
    assert admin.get("/__admin/journal/x-000002").json()["status"] == 404
    missing = admin.get("/__admin/journal/x-000077")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert "x-000077" in missing.json()["detail"]


@pytest.mark.parametrize(("query", "name"), [({"status": "abc"}, "status"), ({"limit": "0"}, "limit"),
                                              ({"offset": "-1"}, "offset"), ({"since": "yesterday"}, "since"),
                                              ({"before": "x-relay-2-000001"}, "before"), ({"before": "7"}, "before"),
                                              ({"since": "2026-11-01T00:00:00"}, "since"), ({"colour": "x"}, "colour")])
def test_admin_bad_parameters_are_named_in_both_languages(admin, query, name):
    response = admin.get("/__admin/journal", params=query)
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert f"쿼리 매개변수 {name}" in detail and f"query parameter {name}" in detail


def test_admin_refuses_a_parameter_given_twice(admin):
    refused = admin.get("/__admin/journal?before=x-000003&before=x-000002")
    assert refused.status_code == 400 and "query parameter before: may be given only once" in refused.json()["detail"]


def test_admin_pages_with_before_without_shifting_as_exchanges_arrive(admin, filled):
    first = admin.get("/__admin/journal", params={"limit": "1"}).json()["entries"]
    _record(filled, party="relay→insurer:LATE")  # arrives between the pages: an offset would show the first again
    second = admin.get("/__admin/journal", params={"limit": "2", "before": first[0]["id"]}).json()["entries"]
    assert [e["id"] for e in first + second] == ["x-000003", "x-000002", "x-000001"]
    assert admin.get("/__admin/journal", params={"before": "x-000001"}).json()["returned"] == 0
    for gone in ("x-999999", "x-000000"):  # never recorded (beyond the newest, or before the first)
        refused = admin.get("/__admin/journal", params={"before": gone})
        assert refused.status_code == 404 and "query parameter before" in refused.json()["detail"], gone
    filled.clear()
    assert admin.get("/__admin/journal", params={"before": "x-000002"}).status_code == 404  # cleared


def test_admin_clear_and_index(admin, filled):
    assert admin.delete("/__admin/journal").json() == {"deleted": 3}
    assert filled.count() == 0
    index = admin.get("/__admin/").json()
    assert {(r["method"], r["path"]) for r in index} == {
        ("GET", "/__admin/"), ("GET", "/__admin/journal"), ("GET", "/__admin/journal/{exchange_id}"),
        ("DELETE", "/__admin/journal")}
    assert all(r["summary_ko"] and r["summary_en"] for r in index)
    page = admin.get("/__admin/", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html") and "<code>/__admin/journal</code>" in page.text
