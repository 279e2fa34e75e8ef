"""Reading a sites CSV: every bad cell with its line and column, UTF-8 (BOM or not) and CP949, nothing guessed."""

from __future__ import annotations

import pytest

from s24kit.conformance.console import sitecsv
from s24kit.conformance.console.csvformat import FLEET_COLUMNS, write_fleet_csv
from s24kit.conformance.console.sitecsv import SitesRefused, parse_sites

HEADER = ",".join(FLEET_COLUMNS)
PIN = "ab" * 32


def site(code: str = "11390001", **overrides: str) -> dict[str, str]:
    row = {"provider_code": code, "name": "서울 하늘 의원", "facility_type": "31", "region": "서울특별시",
           "vendor": "가상의료정보", "product": "온누리EMR", "product_version": "3.2.1", "mode": "pull",
           "pull_url": "https://127.0.0.1:18443", "server_cert_sha256": PIN, "agent_source_ip": "",
           "agent_cert_sha256": "", "contact_name": "EMR 담당", "contact_phone": "02-1234-5678"}
    row.update(overrides)
    return row


def csv_text(*rows: dict[str, str]) -> str:
    lines = [HEADER] + [",".join(row[c] for c in FLEET_COLUMNS) for row in rows]
    return "\r\n".join(lines) + "\r\n"


def refusal(data: bytes) -> list[tuple[int, str]]:
    with pytest.raises(SitesRefused) as caught:
        parse_sites(data)
    for error in caught.value.errors:
        assert error.message_ko and error.message_en and error.message_ko != error.message_en
    return [(e.line, e.column) for e in caught.value.errors]


@pytest.mark.parametrize(("encode", "encoding"), [
    (lambda text: text.encode("utf-8"), "utf-8"),
    (lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"), "utf-8-sig"),
    (lambda text: text.encode("cp949"), "cp949"),  # what Korean Excel writes for "CSV (쉼표로 분리)"
])
def test_a_good_file_is_read_in_each_encoding(encode, encoding):
    text = csv_text(site(), site("11390002", name="부산 바다 치과의원", region="부산광역시", mode="agent", pull_url="",
                                 server_cert_sha256="", agent_source_ip="203.0.113.7",
                                 agent_cert_sha256=":".join(["CD"] * 32)))
    parsed = parse_sites(encode(text))
    assert parsed.encoding == encoding
    assert [row.line for row in parsed.rows] == [2, 3]
    first, second = (row.values for row in parsed.rows)
    assert first["name"] == "서울 하늘 의원" and first["agent_source_ip"] is None
    assert (first["region"], second["region"]) == ("11", "26")  # the register keeps the 시도 code
    assert second["agent_cert_sha256"] == "cd" * 32  # pins are normalised: lower case, no separators
    assert second["pull_url"] is None


def test_the_fleet_writer_and_the_reader_share_one_column_list(tmp_path):
    path = write_fleet_csv(tmp_path / "sites.csv", [site(), site("11390002")])
    assert [row.values["provider_code"] for row in parse_sites(path.read_bytes()).rows] == ["11390001", "11390002"]


def test_every_bad_cell_is_reported_with_its_line_and_column():
    text = csv_text(
        site(),                                                   # line 2: good
        site("1139000", facility_type="99"),                      # line 3: two bad cells
        site("11390003", region="서울", mode="pul"),               # line 4
        site("11390004", pull_url="http://127.0.0.1:1"),          # line 5
        site("11390005", pull_url="https://127.0.0.1"),           # line 6: no port
        site("11390006", agent_source_ip="10.0.0.1"),             # line 7: agent column on a pull site
        site("11390007", server_cert_sha256="abc"),               # line 8
        site("11390008", mode="agent", pull_url="", server_cert_sha256="", agent_source_ip="not-an-ip"),  # 9
        site("11390001"),                                         # line 10: duplicate of line 2
        site("11390010", name=""),                                # line 11: required cell empty
        site("11390011", name="=HYPERLINK(\"http://x\")"),        # line 12: a formula
        site("11390012", contact_phone="call me"),                 # line 13
        site("11390013", region="41"),                             # line 14: good, 경기도 by its code
        site("11390014", contact_phone="'+82 2 1234 5678"),        # line 15: good, an exported cell unescaped
    )
    assert refusal(text.encode()) == [
        (3, "provider_code"), (3, "facility_type"), (4, "region"), (4, "mode"), (5, "pull_url"), (6, "pull_url"),
        (7, "agent_source_ip"), (8, "server_cert_sha256"), (9, "agent_source_ip"), (10, "provider_code"),
        (11, "name"), (12, "name"), (13, "contact_phone")]


def test_a_value_spanning_lines_is_reported_from_its_first_line():
    text = csv_text(site()) + '11390002,"여러 줄\n이름",31,서울특별시,v,p,1,pull,https://h:1,,,,,\n' + \
        ",".join(site("bad")[c] for c in FLEET_COLUMNS) + "\n"
    # the name with a line break is refused too (a control character), on the line where its record starts
    assert refusal(text.encode()) == [(3, "name"), (5, "provider_code")]


def test_a_bad_header_names_the_column():
    assert refusal(b"provider_code,name,facility_typ\n") == [(1, "header")] * 7  # unknown + 6 missing required
    assert refusal(b"") == [(1, "header")]
    assert refusal((HEADER + ",name\n").encode()) == [(1, "header")]


def test_a_line_with_the_wrong_number_of_cells_is_reported():
    assert refusal((csv_text(site()) + "11390002,too,short\n").encode()) == [(3, "file")]


@pytest.mark.parametrize(("data", "where"), [
    (b"\xff\xfep\x00r\x00", (1, "file")),                              # UTF-16, Excel's "Unicode Text"
    (HEADER.encode() + b"\n11390001,\xff\xff\n", (2, "file")),          # neither UTF-8 nor CP949: the line named
    (HEADER.encode() + b'\n"unclosed\n', (2, "file")),                  # CSV syntax
    (b"\xef\xbb\xbf" + HEADER.encode() + b"\n\xb0\xa1\n", (2, "file")),  # a BOM promises UTF-8: CP949 inside refused
])
def test_unreadable_files_are_refused_with_the_fix(data, where):
    assert refusal(data) == [where]


def test_errors_beyond_the_cap_are_counted(monkeypatch):
    monkeypatch.setattr(sitecsv, "MAX_ERRORS", 3)
    text = csv_text(*(site(f"bad{i}") for i in range(5)))
    with pytest.raises(SitesRefused) as caught:
        parse_sites(text.encode())
    assert (len(caught.value.errors), caught.value.more) == (3, 2)
    assert caught.value.as_json()["more_errors"] == 2


def test_blank_lines_are_skipped():
    assert len(parse_sites((csv_text(site()) + ",,,,,,,,,,,,,\r\n\r\n").encode()).rows) == 1


def test_mode_messages_use_the_right_article():
    with pytest.raises(SitesRefused) as caught:
        parse_sites(csv_text(site("11390001", mode="agent", pull_url="", server_cert_sha256=""),
                             site("11390002", mode="agent", server_cert_sha256="")).encode())
    messages = [e.message_en for e in caught.value.errors]
    assert "an agent site needs agent_source_ip" in messages
    assert "leave pull_url empty for an agent site" in messages
    assert not any("a agent" in m for m in messages)


@pytest.mark.parametrize("url", ["https://127.0.0.1:0", "https://emr.example:00000", "https://127.0.0.1:99999"])
def test_a_pull_url_port_outside_1_to_65535_is_refused(url):
    assert refusal(csv_text(site(pull_url=url)).encode()) == [(2, "pull_url")]
    assert sitecsv.url_refusal("pull_url", url) is not None
    assert sitecsv.url_refusal("pull_url", "https://127.0.0.1:65535") is None
    assert sitecsv.url_refusal("pull_url", "https://127.0.0.1:1") is None
