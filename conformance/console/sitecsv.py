"""Read a sites CSV (the fleet CSV of :mod:`.csvformat`) into checked rows, or every reason it cannot be imported.

Pure: no database. Each bad cell is reported with its line number (the header is line 1; a quoted value that
spans lines counts from the line where its record starts) and its column, in Korean and English. The bytes are
UTF-8 (with or without a byte-order mark) or CP949 — what Korean Excel writes for "CSV (쉼표로 분리)" — and
anything else is refused with the fix, never guessed.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ...fixtures import fixture_path
from ...schemas.codes import code_list
from .csvformat import FLEET_COLUMNS, READ_ONLY_COLUMNS, REQUIRED_COLUMNS
from .validation import value_refusal

MAX_BYTES = 64 * 1024 * 1024
MAX_SITES = 200_000
MAX_CELL = 500  # characters; a longer cell is a mistake (a whole file pasted into one cell), not a name
MAX_ERRORS = 1_000  # reported one by one; beyond that only counted, so an answer stays readable

PULL_COLUMNS = ("pull_url", "server_cert_sha256")
AGENT_COLUMNS = ("agent_source_ip", "agent_cert_sha256")
#: A cell starting with one of these is read as a formula by spreadsheet programs (CSV injection). Free-text
#: columns refuse them; the others have a form (digits, https://, an address, hex, a phone) that already does.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FREE_TEXT = ("name", "vendor", "product", "product_version", "contact_name")
#: The columns naming the version, each checked by the API's rule for it (the schema of openapi.yaml).
NAMED_COLUMNS = {"vendor": ("VendorNew", "name"), "product": ("ProductNew", "name"),
                 "product_version": ("ProductVersionNew", "version")}

_PROVIDER_CODE = re.compile(r"[0-9]{8}")
_PHONE = re.compile(r"[0-9+][0-9 -]{6,19}")  # the register's form (console openapi.yaml, SiteFields)
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

Report = Callable[[str, str, str], None]  # (column, Korean message, English message)


def _regions() -> dict[str, str]:
    """시도 name and short name → its two-digit code (행정표준코드), from fixtures/people/addresses.json."""
    data = json.loads(fixture_path("people", "addresses.json").read_text(encoding="utf-8"))["data"]
    return {**{entry["sido"]: entry["code"] for entry in data}, **{entry["code"]: entry["code"] for entry in data}}


#: What the region column accepts — 서울특별시 or 11 — and the code the register keeps.
REGION_CODES = _regions()
#: The region's name by code, for exports.
REGION_NAMES = {code: name for name, code in REGION_CODES.items() if not name.isdigit()}
MAX_LENGTHS = {"name": 500, "vendor": 200, "product": 200, "product_version": 64, "pull_url": 500,
               "contact_name": 100}


@dataclass(frozen=True)
class LineError:
    """One reason the file cannot be imported: where (line, column) and why, in Korean and English."""

    line: int
    column: str  # a column of FLEET_COLUMNS, or "file" / "header"
    message_ko: str
    message_en: str

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "message_ko": self.message_ko,
                "message_en": self.message_en}


@dataclass(frozen=True)
class SiteRow:
    """A checked line: every column of FLEET_COLUMNS, NFC text, None for an empty optional cell."""

    line: int
    values: dict[str, str | None]

    @property
    def product_triple(self) -> tuple[str, str, str]:
        return self.values["vendor"] or "", self.values["product"] or "", self.values["product_version"] or ""


@dataclass
class ParsedSites:
    encoding: str  # "utf-8", "utf-8-sig" or "cp949"
    rows: list[SiteRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)  # an export's read-only columns (READ_ONLY_COLUMNS)


class SitesRefused(Exception):
    """The file cannot be imported; ``errors`` lists every reason (at most MAX_ERRORS), ``more`` counts the rest."""

    def __init__(self, errors: list[LineError], more: int = 0) -> None:
        super().__init__(f"{len(errors) + more} error(s) in the sites CSV")
        self.errors = errors
        self.more = more

    def as_json(self) -> dict[str, object]:
        return {"errors": [e.as_json() for e in self.errors], "more_errors": self.more}


class Errors:
    """Collects errors up to MAX_ERRORS and counts the rest."""

    def __init__(self) -> None:
        self.kept: list[LineError] = []
        self.more = 0

    def add(self, line: int, column: str, ko: str, en: str) -> None:
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(LineError(line, column, ko, en))
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.kept)

    def refuse(self) -> SitesRefused:
        """Every error kept, in line order."""
        return SitesRefused(sorted(self.kept, key=lambda e: e.line), self.more)


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was read with: UTF-8 (BOM or not), else CP949; else SitesRefused."""
    def refused(ko: str, en: str) -> SitesRefused:
        return SitesRefused([LineError(1, "file", ko, en)])

    if len(data) > MAX_BYTES:
        raise refused(f"파일이 {MAX_BYTES // 1024 // 1024} MB를 넘습니다. 나누어 가져오십시오",
                      f"the file is larger than {MAX_BYTES // 1024 // 1024} MB; import it in parts")
    if data.startswith(_UTF16_BOMS):
        raise refused("UTF-16 파일(엑셀의 '유니코드 텍스트')은 읽지 않습니다. 'CSV UTF-8(쉼표로 분리)'로 저장하십시오",
                      "UTF-16 files (Excel's 'Unicode Text') are not read; save as 'CSV UTF-8 (Comma delimited)'")
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _undecodable(data, exc, "UTF-8 (BOM)", offset=len(_UTF8_BOM)) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("cp949"), "cp949"
        except UnicodeDecodeError:
            raise _undecodable(data, utf8_error, "UTF-8 / CP949") from None


def _undecodable(data: bytes, exc: UnicodeDecodeError, tried: str, offset: int = 0) -> SitesRefused:
    line = data.count(b"\n", 0, offset + exc.start) + 1
    return SitesRefused([LineError(
        line, "file",
        f"{exc.start}번째 바이트를 {tried}(으)로 읽을 수 없습니다. 'CSV UTF-8(쉼표로 분리)'로 다시 저장하십시오",
        f"byte {exc.start} cannot be read as {tried}; save the file again as 'CSV UTF-8 (Comma delimited)'")])


def parse_sites(data: bytes) -> ParsedSites:
    """Every line checked; the rows when all are good, else SitesRefused with every bad cell."""
    parsed, errors = read_sites(data)
    if errors:
        raise errors.refuse()
    return parsed


def read_sites(data: bytes) -> tuple[ParsedSites, Errors]:
    """The good rows and the errors of the bad ones (the importer adds what only the register knows).
    A file that cannot be read at all (encoding, size, empty) raises SitesRefused at once."""
    text, encoding = decode(data)
    errors = Errors()
    parsed = ParsedSites(encoding)
    records = _records(text, errors)
    header = next(records, None)
    if header is None:
        raise SitesRefused([LineError(1, "header", "빈 파일입니다. 머리글 줄이 있어야 합니다",
                                      f"the file is empty; it needs a header line: {','.join(FLEET_COLUMNS)}")])
    columns = _check_header(header[1], errors)
    if columns is not None:
        parsed.ignored_columns = [name for name in columns if name in READ_ONLY_COLUMNS]
    seen: dict[str, int] = {}
    for line, cells in records:
        if len(parsed.rows) >= MAX_SITES:
            errors.add(line, "file", f"사이트가 {MAX_SITES:,}곳을 넘습니다. 나누어 가져오십시오",
                       f"more than {MAX_SITES:,} sites; import the file in parts")
            break
        if not any(cell.strip() for cell in cells):
            continue  # an empty line (Excel leaves some at the end)
        if columns is None:
            continue
        row = _check_row(line, columns, cells, errors)
        if row is None:
            continue
        code = row.values["provider_code"] or ""
        if code in seen:
            errors.add(line, "provider_code", f"요양기관기호 {code}가 {seen[code]}번째 줄에도 있습니다",
                       f"provider code {code} is also on line {seen[code]}")
        else:
            seen[code] = line
        parsed.rows.append(row)
    return parsed, errors


def _records(text: str, errors: Errors) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, its cells); a CSV syntax error is reported and ends the reading."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.add(reader.line_num or start, "file", f"CSV 형식 오류: {exc}", f"CSV syntax error: {exc}")
            return
        yield start, cells
        start = reader.line_num + 1


def _check_header(cells: list[str], errors: Errors) -> list[str] | None:
    names = [unicodedata.normalize("NFC", cell.strip()) for cell in cells]
    bad = False
    for name in dict.fromkeys(names):
        if name not in FLEET_COLUMNS and name not in READ_ONLY_COLUMNS:
            errors.add(1, "header", f"알 수 없는 열 '{name}'. 쓸 수 있는 열: {', '.join(FLEET_COLUMNS)} "
                       f"(내보낸 파일의 {', '.join(READ_ONLY_COLUMNS)}은(는) 무시합니다)",
                       f"unknown column '{name}'; the columns are: {', '.join(FLEET_COLUMNS)} "
                       f"(an export's {', '.join(READ_ONLY_COLUMNS)} are ignored)")
            bad = True
        elif names.count(name) > 1:
            errors.add(1, "header", f"열 '{name}'이(가) 두 번 있습니다", f"column '{name}' appears twice")
            bad = True
    for name in REQUIRED_COLUMNS:
        if name not in names:
            errors.add(1, "header", f"필수 열 '{name}'이(가) 없습니다", f"the required column '{name}' is missing")
            bad = True
    return None if bad else names


def _check_row(line: int, columns: list[str], cells: list[str], errors: Errors) -> SiteRow | None:
    if len(cells) != len(columns):
        errors.add(line, "file", f"칸이 {len(cells)}개입니다. 머리글처럼 {len(columns)}개여야 합니다",
                   f"{len(cells)} cells; the header has {len(columns)}")
        return None
    raw = {name: _unescaped(unicodedata.normalize("NFC", cell.strip()))
           for name, cell in zip(columns, cells, strict=True)}
    values: dict[str, str | None] = {name: raw.get(name) or None for name in FLEET_COLUMNS}
    flagged: set[str] = set()

    def bad(column: str, ko: str, en: str) -> None:
        if column not in flagged:  # one reason per cell: the first
            flagged.add(column)
            errors.add(line, column, ko, en)

    for name, value in values.items():
        if value is None:
            if name in REQUIRED_COLUMNS:
                bad(name, f"{name}이(가) 비어 있습니다", f"{name} is empty")
            continue
        longest = MAX_LENGTHS.get(name, MAX_CELL)
        if name in NAMED_COLUMNS and (refusal := value_refusal(*NAMED_COLUMNS[name], value, name)):
            bad(name, *refusal)  # the API's rule, checked in the API's order: its schema, then formulas
        elif len(value) > longest:
            bad(name, f"{name}이(가) {longest}자를 넘습니다", f"{name} is longer than {longest} characters")
        elif name in FREE_TEXT and (formula := formula_refusal(name, value)):
            bad(name, *formula)
        elif any(unicodedata.category(ch) == "Cc" for ch in value):
            bad(name, f"{name}에 제어 문자가 있습니다", f"{name} contains a control character")
    _check_values(values, bad)
    return None if flagged else SiteRow(line, values)


def _check_values(values: dict[str, str | None], bad: Report) -> None:
    code = values["provider_code"] or ""
    if not _PROVIDER_CODE.fullmatch(code):
        bad("provider_code", f"요양기관기호 '{code}'는 숫자 8자리여야 합니다",
            f"provider code '{code}' must be 8 digits")
    facility = values["facility_type"] or ""
    if facility not in code_list("facility-types"):
        bad("facility_type", f"종별코드 '{facility}'를 모릅니다 (fixtures/codes/facility-types.json)",
            f"unknown facility type '{facility}' (fixtures/codes/facility-types.json)")
    region = REGION_CODES.get(values["region"] or "")
    if region is None:
        bad("region", f"시도 '{values['region']}'를 모릅니다. 이름이나 코드로 쓰십시오 (예: 서울특별시 또는 11)",
            f"unknown region (시도) '{values['region']}'; write its name or code (e.g. 서울특별시 or 11)")
    values["region"] = region
    phone = values["contact_phone"]
    if phone is not None and not _PHONE.fullmatch(phone):
        bad("contact_phone", "contact_phone은 전화번호여야 합니다 (예: 02-1234-5678)",
            "contact_phone must be a telephone number (e.g. 02-1234-5678)")
    mode = values["mode"]
    if mode not in ("pull", "agent"):
        bad("mode", f"mode '{mode}'는 pull 또는 agent여야 합니다", f"mode '{mode}' must be pull or agent")
        return
    own, other = (PULL_COLUMNS, AGENT_COLUMNS) if mode == "pull" else (AGENT_COLUMNS, PULL_COLUMNS)
    for name in other:
        if values[name] is not None:
            bad(name, f"{mode} 사이트에는 {name}을(를) 비워 두십시오",
                f"leave {name} empty for {_article(mode)} {mode} site")
    if values[own[0]] is None:
        bad(own[0], f"{mode} 사이트에는 {own[0]}이(가) 필요합니다", f"{_article(mode)} {mode} site needs {own[0]}")
    elif mode == "pull":
        _check_url(values["pull_url"] or "", bad)
        values["pull_url"] = (values["pull_url"] or "").rstrip("/")
    else:
        _check_ip(values["agent_source_ip"] or "", bad)
    pin_column = own[1]
    pin = values[pin_column]
    if pin is not None:
        normal = pin.replace(":", "").lower()
        if not _SHA256.fullmatch(normal):
            bad(pin_column, f"{pin_column}는 SHA-256 16진수 64자여야 합니다 (':' 구분 가능)",
                f"{pin_column} must be a hex SHA-256: 64 hex digits (':' separators allowed)")
        values[pin_column] = normal


def formula_refusal(name: str, value: str) -> tuple[str, str] | None:
    """Why a free-text ``value`` (of the field ``name``) is refused as a spreadsheet formula, in Korean and
    English, or None. The rule of the import, for the register's pages and API too: the value as the import
    would read it back from an export — spaces and tabs around it stripped, an export's leading apostrophe
    taken off — must not start with a formula character, or the export of it could never be imported again."""
    cell = _unescaped(unicodedata.normalize("NFC", value.strip()))
    if not cell.startswith(FORMULA_STARTS):
        return None
    return (f"{name}이(가) '{cell[0]}'(으)로 시작합니다. 스프레드시트가 수식으로 읽으므로 받지 않습니다",
            f"{name} starts with '{cell[0]}', which spreadsheets run as a formula; it is refused")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _unescaped(cell: str) -> str:
    """An exported cell that began with a formula character was written with a leading apostrophe."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def url_refusal(name: str, url: str) -> tuple[str, str] | None:
    """Why ``url`` (of the field ``name``) is not a connector's address — https://host:port, nothing else —
    in Korean and English, or None. The import's rule for pull_url, and the console's for a certification's
    target_url."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        return f"{name} '{url}'는 https://호스트:포트 형식이어야 합니다", f"{name} '{url}' must be https://host:port"
    if port is None:
        return (f"{name} '{url}'에 포트가 없습니다 (예: https://emr.example:8443)",
                f"{name} '{url}' has no port (e.g. https://emr.example:8443)")
    if not 1 <= port <= 65535:
        return (f"{name} '{url}'의 포트는 1–65535여야 합니다 (예: https://emr.example:8443)",
                f"{name} '{url}': the port must be 1–65535 (e.g. https://emr.example:8443)")
    return None


def _check_url(url: str, bad: Report) -> None:
    if refusal := url_refusal("pull_url", url):
        bad("pull_url", *refusal)


def _check_ip(address: str, bad: Report) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        bad("agent_source_ip", f"agent_source_ip '{address}'는 IP 주소여야 합니다 (예: 203.0.113.7)",
            f"agent_source_ip '{address}' must be an IP address (e.g. 203.0.113.7)")
