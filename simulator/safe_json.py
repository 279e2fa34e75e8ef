"""Strict JSON for request bodies from untrusted callers: explicit limits, one clear refusal per way of failing.

``json.loads`` alone accepts what later hurts: nesting deep enough to exhaust the recursion limit (in the parser
or in whatever walks the value next: schema validation, masking, ``json.dumps``), integers of thousands of
digits (``ValueError`` from the int-size guard, or quadratic work), lone UTF-16 surrogates (``"\\ud800"``) that
no UTF-8 encoder or SQLite binding accepts, duplicate keys (silently the last one wins), ``NaN`` and
``Infinity`` (not JSON), a byte-order mark. :func:`parse_body` refuses each of them with :class:`JsonRefused`,
whose Korean and English texts name what was wrong and the limit (docs/hostile-input.md).

The common case stays on the C parser: the limits that need a look at the whole text are first bounded by a
count or a regular-expression search in C (fewer opening brackets than the depth limit cannot nest deeper;
fewer commas than the member limit cannot make a longer array; no ``\\uD8..`` escape cannot hold a
surrogate), and only a body that could break a limit gets the exact check, itself in C where it can be. The
parser's own hooks check numbers and duplicate names as it goes.
"""

from __future__ import annotations

import array
import functools
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class JsonLimits:
    """What a body may hold. The defaults fit every kit-v1 message with a wide margin."""

    max_depth: int = 64  # arrays and objects inside one another (kit-v1 documents nest fewer than 10)
    max_number_chars: int = 100  # characters of one number token (a won amount needs at most 19 digits)
    max_members: int = 10_000  # elements of one array or members of one object (kit-v1 schemas: 2,000)
    max_values: int = 200_000  # arrays, objects and commas in the whole body, counted before parsing


DEFAULT_LIMITS = JsonLimits()


class JsonRefused(ValueError):
    """A body that is not acceptable JSON; ``ko`` and ``en`` say why (for a 400 ``invalid_json``)."""

    def __init__(self, ko: str, en: str) -> None:
        super().__init__(en)
        self.ko, self.en = ko, en


# A JSON string (escapes included) matched whole, so that brackets and digits inside strings are skipped.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1, +1, -1, -1
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_body(body: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """The JSON value of ``body`` (UTF-8, no BOM) within ``limits``; :class:`JsonRefused` otherwise."""
    if not body.strip():
        raise JsonRefused("본문이 비어 있습니다 (JSON 값이 하나 있어야 합니다)",
                          "the body is empty (one JSON value expected)")
    if body.startswith(BOM):
        raise JsonRefused("본문이 BOM(EF BB BF)으로 시작합니다: BOM 없는 UTF-8로 보내십시오 (RFC 8259 §8.1)",
                          "the body starts with a byte-order mark (EF BB BF): send UTF-8 without BOM (RFC 8259 §8.1)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"본문이 올바른 UTF-8이 아닙니다 (위치 {exc.start}의 바이트 {body[exc.start]:#04x})",
                          f"the body is not valid UTF-8 (byte {body[exc.start]:#04x} at offset {exc.start})") from None
    _check_structure(body, limits)
    try:
        value = _decoder(limits).decode(text)
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"JSON 구문 오류: {exc.msg} ({exc.lineno}행 {exc.colno}열, 위치 {exc.pos})",
                          f"JSON syntax error: {exc.msg} (line {exc.lineno} column {exc.colno}, offset {exc.pos})"
                          ) from None
    except RecursionError:  # only with a max_depth beyond the interpreter's recursion limit
        raise _too_deep(limits.max_depth) from None
    if body.count(b",") >= limits.max_members:  # fewer commas: no array can hold more than the limit
        _check_members(value, limits.max_members)
    if _SURROGATE_ESCAPE.search(body):
        _check_unicode(value)
    return value


@functools.lru_cache(maxsize=8)
def _decoder(limits: JsonLimits) -> json.JSONDecoder:
    """A decoder with the hooks for ``limits`` (made once: ``json.loads`` with hooks builds one per call)."""
    return json.JSONDecoder(object_pairs_hook=_unique_members(limits.max_members), parse_constant=_no_constant,
                            parse_float=_float_within(limits.max_number_chars),
                            parse_int=_int_within(limits.max_number_chars))


def _check_structure(body: bytes, limits: JsonLimits) -> None:
    """Before parsing: at most ``max_values`` containers and commas, and no nesting deeper than ``max_depth``.

    Both are counted outside strings, and only when a plain count of the bytes (strings included) could exceed
    them. The depth is the highest running sum of +1 per opening and -1 per closing bracket, computed in C
    (``accumulate`` over signed bytes); the value count bounds the work of that sum and the parser's memory.
    """
    openers = body.count(b"[") + body.count(b"{")
    if openers <= limits.max_depth and openers + body.count(b",") < limits.max_values:
        return
    structure = _STRING.sub(b"", body)
    if structure.count(b"[") + structure.count(b"{") + structure.count(b",") >= limits.max_values:
        raise JsonRefused(f"본문의 값(배열·객체와 쉼표로 나뉜 원소)이 {limits.max_values:,}개를 넘습니다 "
                          f"(한도 {limits.max_values:,})",
                          f"the body holds more than {limits.max_values:,} values (arrays, objects and "
                          f"comma-separated members; limit {limits.max_values:,})")
    steps = structure.translate(_DEPTH_STEP, _NOT_BRACKETS)
    if steps and max(itertools.accumulate(array.array("b", steps))) > limits.max_depth:
        raise _too_deep(limits.max_depth)


def _too_deep(limit: int) -> JsonRefused:
    return JsonRefused(f"배열·객체가 {limit}단계보다 깊게 중첩되어 있습니다 (한도 {limit})",
                       f"arrays and objects are nested deeper than {limit} levels (limit {limit})")


def _too_many(limit: int) -> JsonRefused:
    return JsonRefused(f"배열 또는 객체 하나에 원소가 {limit:,}개를 넘습니다 (한도 {limit:,})",
                       f"an array or object has more than {limit:,} members (limit {limit:,})")


def _too_long(token: str, limit: int) -> JsonRefused:
    return JsonRefused(f"숫자 하나가 {len(token):,}자입니다 (한도 {limit}자)",
                       f"a number is {len(token):,} characters long (limit {limit})")


def _unique_members(limit: int) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        members = dict(pairs)
        if len(members) != len(pairs):
            seen: set[str] = set()
            key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            shown = json.dumps(key[:40], ensure_ascii=True)
            raise JsonRefused(f"객체에 같은 이름 {shown}이(가) 두 번 있습니다 (이름은 한 번씩만: RFC 8259 §4, I-JSON)",
                              f"an object has the name {shown} twice (names must be unique: RFC 8259 §4, I-JSON)")
        if len(pairs) > limit:
            raise _too_many(limit)
        return members
    return build


def _no_constant(name: str) -> float:
    raise JsonRefused(f"{name}은(는) JSON 값이 아닙니다 (RFC 8259 §6: NaN, Infinity 없음)",
                      f"{name} is not a JSON value (RFC 8259 §6 has no NaN or Infinity)")


def _float_within(limit: int) -> Callable[[str], float]:
    def parse(token: str) -> float:
        if len(token) > limit:
            raise _too_long(token, limit)
        value = float(token)
        if math.isinf(value):
            raise JsonRefused(f"숫자 {token}이(가) 배정밀도 범위를 넘습니다 (I-JSON)",
                              f"the number {token} is beyond double precision range (I-JSON)")
        return value
    return parse


def _int_within(limit: int) -> Callable[[str], int]:
    def parse(token: str) -> int:
        if len(token) > limit:
            raise _too_long(token, limit)
        return int(token)
    return parse


def _containers(value: Any) -> Iterator[dict[str, Any] | list[Any]]:
    """Every array and object within ``value`` (iteratively: the depth is already bounded, but no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            yield item
            stack.extend(v for v in item if isinstance(v, dict | list))


def _check_members(value: Any, limit: int) -> None:
    if any(len(c) > limit for c in _containers(value)):
        raise _too_many(limit)


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_unicode(value: Any) -> None:
    """Refuse lone UTF-16 surrogates from ``\\uD800``-style escapes (a valid pair decodes to one character)."""
    for text in _strings(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = f"\\u{ord(text[exc.start]):04x}"
            raise JsonRefused(f"문자열에 짝 없는 UTF-16 대리 문자 {code}이(가) 있습니다 (유니코드 문자가 아님)",
                              f"a string holds the unpaired UTF-16 surrogate {code} (not a Unicode character)"
                              ) from None
