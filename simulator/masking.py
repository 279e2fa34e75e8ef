"""Masking by meaning: personal data is found where the kit-v1 schemas say it lives, then scrubbed everywhere.

The schemas mark each property that holds personal data with ``"x-personal": KIND`` (``name``, ``birth_date``,
``identity_token``, ``resident_number``, ``identifier``). :func:`personal_fields` derives from them which member
is personal under which parent (``patient.name`` is, a fee item's ``name`` is not). Masking then works in two
steps over everything one exchange or one report carries:

1. **collect** the values found in those fields (:meth:`Scrubber.collect_text` on JSON text, also inside JSON
   carried in a string; :meth:`Scrubber.collect_json` on parsed values);
2. **scrub** every occurrence of those values, in every form they travel in (as is, ``\\u``-escaped, URL-encoded,
   NFD, a birth date written without hyphens), in every text of the exchange — bodies, problem details, URLs,
   headers, error messages — and mask resident numbers by pattern (full or already masked, ``\\u``-escaped
   digits too), since their first six digits are a birth date.

Masked forms: a name keeps its first character (홍길동 → 홍**), a birth date its year (1980-**-**), a token its
first four characters (itk_…), a resident number its year and gender digit (80****-1******).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
import urllib.parse
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..schemas.loader import schemas

# -- what is personal, from the schemas ----------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalFields:
    """Which members hold personal data: ``always`` wherever they occur, ``within`` only under some parents,
    ``unless`` an object under that parent has a member only the non-personal objects of that name declare."""

    always: dict[str, str]  # key → kind, for keys personal under every parent the schemas give them
    within: dict[str, dict[str, str]]  # key → {parent key → kind}, for keys personal under some parents only
    # (parent, key) → members that mark an object of another meaning: the pharmacy receipt's ``prescriber`` is
    # the prescribing provider (its ``name`` an institution, beside ``provider_code``), the prescription's the
    # prescribing practitioner (a person)
    unless: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def kind(self, parent: str | None, key: str, members: Container[str] = ()) -> str | None:
        """The kind of personal data ``parent.key`` holds, or None; ``members``: the keys of the object that
        holds it, when known (unknown, a key personal under that parent in any schema is taken as personal)."""
        kind = self.always.get(key)
        if kind is None and key in self.within and parent is not None:
            kind = self.within[key].get(parent)
            if kind is not None and any(mark in members for mark in self.unless.get((parent, key), ())):
                return None
        return kind


def _schema_objects() -> Iterator[tuple[str | None, dict[str, dict[str, Any]]]]:
    """``(parent key, properties)`` of every object reachable in the profile's schemas.

    The parent key is the member under which the object sits in a document (``patient`` for the patient of a
    receipt), found by following ``$ref``s from each schema's root; array items keep their array's key.
    """
    documents = {s["$id"]: s for s in schemas().values()}
    seen: set[tuple[int, str | None]] = set()

    def resolve(ref: str, base: str) -> tuple[dict[str, Any], str] | None:
        target, _, pointer = urllib.parse.urljoin(base, ref).partition("#")
        node: Any = documents.get(target)
        for part in filter(None, pointer.split("/")):
            node = node.get(part) if isinstance(node, dict) else None
        return (node, target) if isinstance(node, dict) else None

    def walk(node: Any, parent: str | None, base: str) -> Iterator[tuple[str | None, dict[str, dict[str, Any]]]]:
        if not isinstance(node, dict) or (id(node), parent) in seen:
            return
        seen.add((id(node), parent))
        if isinstance(node.get("$ref"), str) and (found := resolve(node["$ref"], base)):
            yield from walk(found[0], parent, found[1])
        properties = {key: sub for key, sub in (node.get("properties") or {}).items() if isinstance(sub, dict)}
        if properties:
            yield parent, properties
        for key, sub in properties.items():
            yield from walk(sub, key, base)
        for word in ("items", "additionalProperties", "not", "if", "then", "else"):
            yield from walk(node.get(word), parent, base)
        for word in ("allOf", "anyOf", "oneOf", "prefixItems"):
            for sub in node.get(word) or ():
                yield from walk(sub, parent, base)
        for sub in (node.get("$defs") or {}).values():
            yield from walk(sub, None, base)

    for document in documents.values():
        yield from walk(document, None, document["$id"])


@functools.cache
def personal_fields() -> PersonalFields:
    """The personal members of profile kit-v1, derived from the ``x-personal`` annotations of its schemas."""
    personal: dict[str, dict[str | None, str]] = {}
    ordinary: dict[str, set[str | None]] = {}
    # members of the objects under a parent that declare a key, split by whether the key is personal there
    members: dict[tuple[str | None, str], dict[bool, set[str]]] = {}
    for parent, properties in _schema_objects():
        for key, sub in properties.items():
            kind = sub.get("x-personal")
            if kind is not None:
                personal.setdefault(key, {})[parent] = kind
            else:
                ordinary.setdefault(key, set()).add(parent)
            members.setdefault((parent, key), {True: set(), False: set()})[kind is not None].update(properties)
    always, within = {}, {}
    for key, parents in personal.items():
        # A $defs entry walked on its own has no parent: its meaning comes from where documents reference it.
        kinds = {p: k for p, k in parents.items() if p is not None}
        if not ordinary.get(key, set()) - {None} - set(kinds):
            always[key] = next(iter(parents.values()))
        else:
            within[key] = kinds
    unless = {(parent, key): frozenset(marks)
              for key, parents in within.items() for parent in parents
              if (marks := members[(parent, key)][False] - members[(parent, key)][True])}
    return PersonalFields(always, within, unless)


# -- masked forms -------------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """홍길동 → 홍** (first character kept, one ``*`` per remaining character)."""
    return name[:1] + "*" * (len(name) - 1)


def mask_token(token: str) -> str:
    return token[:4] + "…"


def mask_birth_date(value: str) -> str:
    """1980-01-02 → 1980-**-** (the year stays, every later digit goes)."""
    return value[:4] + re.sub(r"\d", "*", value[4:])


def mask_resident_number(value: str) -> str:
    """850412-2****** or 8504122345678 → 85****-2****** (year and gender digit; month and day are a birth date)."""
    digits = value.replace("-", "")
    if len(digits) >= 7 and digits[:6].isdigit():
        return f"{digits[:2]}****-{digits[6]}******"
    return mask_name(value)


MASKERS = {"name": mask_name, "identifier": mask_name, "identity_token": mask_token,
           "birth_date": mask_birth_date, "resident_number": mask_resident_number}


def mask_as(kind: str, value: str) -> str:
    """``value`` masked as the kind of personal data it is."""
    return MASKERS.get(kind, mask_name)(value)


# -- resident numbers by pattern ----------------------------------------------------------------------------

# YYMMDD-G followed by six digits or six asterisks (a masked number still carries a birth date), or 13 digits
# whose 7th (G) is 1–8; no digit around. The year stays; month and day go. The two spellings never overlap
# (the first holds a run of exactly six digits before its hyphen, the second is a run of exactly thirteen), so
# each is found on its own by what is rare about it; one pattern tried at every 0 and 1 (a month's first
# digit) took 40 µs of a 6 kB document's masking, digit-dense JSON as it is:
# - the hyphenated spelling at its hyphen (a literal, which the scan skips to quickly), its date checked behind;
_RRN_HYPHENATED = re.compile(r"-(?<=(?<!\d)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])-)(\d)(?:\d{6}|\*{6})(?![\d*])")
# - thirteen digits (anchored at the month: the year is looked up behind it), in a text that may hold a run of
#   thirteen digits (:func:`_may_hold_thirteen_digits`): few do.
_RRN_DIGITS = re.compile(r"(?:0[1-9]|1[0-2])(?<=(?<!\d)\d\d(?:0[1-9]|1[0-2]))(?:0[1-9]|[12]\d|3[01])"
                         r"([1-8])\d{6}(?![\d*])")
# Digits and hyphens written as JSON escapes (\u0038\u0035…): decoded before the scan so they are seen too.
_ESCAPED_DIGIT = re.compile(r"\\u00(3[0-9]|2[dD])")
# The first UTF-8 bytes of Unicode's decimal digits beyond ASCII (Arabic-Indic, NKo, the Indic scripts, Thai,
# Myanmar, Vai, fullwidth …; every character beyond the BMP, where new scripts' digits arrive). A test checks it
# against the running Python's Unicode data (computing it here would cost 0.1 s at import).
DIGIT_LEAD_BYTES = frozenset({0xD9, 0xDB, 0xDF, 0xE0, 0xE1, 0xEA, 0xEF, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4})
# One byte per character of a text's UTF-8 form (continuation bytes deleted): 1 when the character may be a
# decimal digit (``\d`` is Unicode's: ASCII 0–9, or a character whose first byte starts some digit), 0 when it
# cannot. Hangul mostly gives 0, so a run of thirteen 1s is rare outside real digits.
_MAY_BE_DIGIT = bytes(ord("1") if 0x30 <= b <= 0x39 or b in DIGIT_LEAD_BYTES else ord("0") for b in range(256))
_CONTINUATION = bytes(range(0x80, 0xC0))
_THIRTEEN = b"1" * 13


def _may_hold_thirteen_digits(text: str) -> bool:
    """Whether ``text`` holds thirteen characters in a row that may be digits (True whenever it holds thirteen
    digits in a row), found in C: one translation of its UTF-8 bytes and one search."""
    return _THIRTEEN in text.encode("utf-8", "surrogatepass").translate(_MAY_BE_DIGIT, _CONTINUATION)


def mask_rrn(text: str) -> str:
    """Resident numbers, full or masked, → ``YY****-G******`` (``\\u``-escaped digits are decoded first)."""
    if "0" not in text and "1" not in text:  # a month starts with one of them (so does an escaped digit: \u003…)
        return text
    if "\\u00" in text:
        text = _ESCAPED_DIGIT.sub(lambda m: chr(int(m[1], 16)), text)
    # (start of the month, end, G) of each number
    found = [(m.start() - 4, m.end(), m[1]) for m in _RRN_HYPHENATED.finditer(text)] if "-" in text else []
    if _may_hold_thirteen_digits(text):
        found += [(m.start(), m.end(), m[1]) for m in _RRN_DIGITS.finditer(text)]
        found.sort()
    if not found:
        return text
    pieces, last = [], 0
    for start, end, gender in found:
        pieces += (text[last:start], "****-", gender, "******")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


# -- collecting values by meaning from JSON text ------------------------------------------------------------

_STRING = r'"((?:[^"\\]++|\\.)*+)'  # a JSON string's content; a value cut at the end of a truncated body matches


# The parent's object up to a key: strings, other members, and objects one level deep. Text outside strings is
# taken a run at a time (a key can only start at a quote), so the lazy search for the key tries it once a run,
# not once a character.
_OBJECT_BODY = r'(?:[^{}"]++|"(?:[^"\\]++|\\.)*+"|\{(?:[^{}"]++|"(?:[^"\\]++|\\.)*+")*+\})*?'


@functools.cache
def _scanners() -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """``(needle, expression, kind)`` for each place personal data sits in JSON text.

    The needle is the quoted key that starts the place (``"birth_date"``; ``"patient"`` for a key personal
    only under some parents, ``name``), found with ``str.find``; the expression, matched right there, reads
    the value (group 1): for a parent, the key inside its object, past its other members. Finding the
    needles first and matching only there costs a fifth of one expression scanning every quote of the text.
    """
    fields = personal_fields()
    out = []
    for key, kind in sorted(fields.always.items()):
        out.append((f'"{key}"', re.compile(rf'"{re.escape(key)}"\s*:\s*{_STRING}'), kind))
    for key, parents in sorted(fields.within.items()):
        for parent, kind in sorted(parents.items()):
            # an object holding a member of another meaning's objects is not read (the lookahead cannot leave
            # the object: the body never crosses its closing brace)
            marks = sorted(fields.unless.get((parent, key), ()))
            other = (rf'(?!{_OBJECT_BODY}"(?:{"|".join(map(re.escape, marks))})"\s*:)' if marks else "")
            out.append((f'"{parent}"', re.compile(rf'"{re.escape(parent)}"\s*:\s*\{{{other}{_OBJECT_BODY}'
                                                  rf'"{re.escape(key)}"\s*:\s*{_STRING}'), kind))
    return tuple(out)


def _decoded(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:  # an escape cut by truncation
        return raw


_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")


def _json_content(value: str, ensure_ascii: bool) -> str:
    """``value`` as the content of a JSON string (between its quotes)."""
    return json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]


@functools.lru_cache(maxsize=4096)  # the same people travel in many exchanges
def _forms(kind: str, value: str) -> tuple[tuple[str, str], ...]:
    """Every form ``value`` may travel in, each with its masked form."""
    masked = mask_as(kind, value)
    if masked == value:
        return ()
    pairs = {value: masked}
    if kind == "birth_date" and len(value) == 10 and value[4] == "-" == value[7]:
        pairs[value.replace("-", "")] = value[:4] + "****"
    for form, replacement in list(pairs.items()):
        nfd = unicodedata.normalize("NFD", form)
        if nfd != form:
            pairs[nfd] = unicodedata.normalize("NFD", replacement)
    for form, replacement in list(pairs.items()):
        # as JSON writes it: quotes, backslashes and control characters escaped (and, ASCII-only, every other
        # character as \\uXXXX, in lower or upper case); JSON carried in a JSON string escapes the escapes
        for ensure_ascii in (False, True):
            escaped = _json_content(form, ensure_ascii)
            if escaped != form:
                masked_escaped = _json_content(replacement, ensure_ascii)
                pairs[escaped] = masked_escaped
                pairs[_UNICODE_ESCAPE.sub(lambda m: m[0].upper().replace("\\U", "\\u"), escaped)] = masked_escaped
                pairs[_json_content(escaped, False)] = _json_content(masked_escaped, False)
        try:
            quoted = urllib.parse.quote(form, safe="")
        except UnicodeEncodeError:  # a lone surrogate: no URL carries it
            continue
        if quoted != form:
            pairs[quoted] = pairs[quoted.lower()] = urllib.parse.quote(replacement, safe="")
    return tuple(pairs.items())


@functools.lru_cache(maxsize=16384)
def _trigger(form: str) -> str:
    """What a text must contain to hold ``form`` (see :meth:`Scrubber.text`)."""
    if not form.isascii():
        return "é"
    return "\\" if "\\" in form else "%" if "%" in form else ""


#: A group of more forms than this (a scenario's people, scrubbed from a report) is looked up by each form's
#: beginning: a text is tried only against the forms whose first four characters (two, for a form of two or
#: three) it holds.
INDEXED = 24


def _key(form: str) -> str:
    return form[:4] if len(form) >= 4 else form[:2]


def _grams(text: str) -> set[str]:
    """Every slice of two and of four characters of ``text`` (what :func:`_key` gives for a form in it)."""
    return {text[i:i + 4] for i in range(len(text) - 3)} | {text[i:i + 2] for i in range(len(text) - 1)}


@dataclass(frozen=True)
class _Group:
    """The forms a text must contain ``trigger`` to hold (see :meth:`Scrubber.text`), longest first, and for a
    large group the positions of its forms by their beginning (:func:`_key`)."""

    trigger: str
    pairs: list[tuple[str, str]]
    by_key: dict[str, list[int]] | None

    def scrub(self, text: str) -> str:
        """``text`` with each form of the group replaced by its mask, longest first. A large group tries only
        the forms whose beginning the text holds, and looks again after each replacement (a mask next to
        other text may make a later form appear, as trying every form would find)."""
        if self.by_key is None:
            for form, masked in self.pairs:
                if form in text:
                    text = text.replace(form, masked)
            return text
        seen = _grams(text)
        todo = sorted(i for key in self.by_key.keys() & seen for i in self.by_key[key])
        at = 0
        while at < len(todo):
            form, masked = self.pairs[todo[at]]
            if form in text:
                text = text.replace(form, masked)
                added = _grams(text) - seen
                if added:
                    seen |= added
                    later = [i for key in self.by_key.keys() & added for i in self.by_key[key] if i > todo[at]]
                    todo[at + 1:] = sorted({*todo[at + 1:], *later})
            at += 1
        return text


@functools.lru_cache(maxsize=1024)  # the exchanges of one claim carry the same people
def _grouped(forms: tuple[tuple[str, str], ...]) -> list[_Group]:
    """Forms by what a text must contain to hold them (``é``: any non-ASCII character), each group longest
    first (a value inside another, a name in a longer name, goes last)."""
    groups: dict[str, list[tuple[str, str]]] = {"é": [], "\\": [], "%": [], "": []}
    for form, masked in forms:
        groups[_trigger(form)].append((form, masked))
    out = []
    for trigger, pairs in groups.items():
        if pairs:
            pairs.sort(key=lambda pair: -len(pair[0]))
            by_key: dict[str, list[int]] | None = None
            if len(pairs) > INDEXED:
                by_key = {}
                for i, (form, _) in enumerate(pairs):
                    by_key.setdefault(_key(form), []).append(i)
            out.append(_Group(trigger, pairs, by_key))
    return out


# -- the scrubber ---------------------------------------------------------------------------------------------


class Scrubber:
    """The personal values of one exchange (or one report) and every form to replace, masked.

    ``collect_*`` finds values by meaning; :meth:`add` takes values known in advance (a scenario's patients);
    :meth:`text` and :meth:`json` scrub them, and resident numbers by pattern, from anything.
    """

    MIN_LENGTH = 2  # a one-character value would blot out that character everywhere

    def __init__(self) -> None:
        self.forms: dict[str, str] = {}  # a form a personal value travels in → its masked form
        self._sorted: list[_Group] | None = None  # see _by_trigger
        self._shortest = 0  # the length of the shortest form (a shorter text holds none)

    def __bool__(self) -> bool:
        return bool(self.forms)

    def add(self, kind: str, value: Any) -> None:
        """Scrub ``value`` (personal data of ``kind``) wherever it appears."""
        if not isinstance(value, str) or len(value) < self.MIN_LENGTH or value in self.forms:
            return
        forms = _forms(kind, value)
        if forms:
            self.forms.update(forms)
            self._sorted, self._shortest = None, 0

    def _add_as_seen(self, raw: str, value: str) -> None:
        """Scrub ``raw`` too: ``value`` as one body escaped it, in case its writer escaped more than JSON must
        (``\\u0048ong`` for ``Hong``), which no form of :func:`_forms` spells."""
        masked = self.forms.get(value)
        if masked is not None and raw not in self.forms:
            self.forms[raw] = _json_content(masked, False)
            self._sorted, self._shortest = None, 0

    def add_all(self, values: Iterable[tuple[str, Any]]) -> None:
        for kind, value in values:
            self.add(kind, value)

    def collect_text(self, text: str | None) -> None:
        """Find personal members in JSON text (also where JSON is carried inside a JSON string)."""
        if not text:
            return
        scanners = _scanners()
        # (looking for one backslash is a tenth of looking for the pair, and most bodies hold none)
        for view in (text, text.replace('\\"', '"')) if "\\" in text and '\\"' in text else (text,):
            for needle, expression, kind in scanners:
                at = view.find(needle)
                while at >= 0:
                    match = expression.match(view, at)
                    if match is not None:
                        raw = match[1]
                        value = _decoded(raw)
                        self.add(kind, value)
                        if raw != value:
                            self._add_as_seen(raw, value)
                    at = view.find(needle, at + len(needle))

    def collect_json(self, value: Any, parent: str | None = None) -> None:
        """Find personal members in a parsed JSON value (``parent``: the key it sits under, if known)."""
        fields = personal_fields()
        if isinstance(value, dict):
            for key, sub in value.items():
                kind = fields.kind(parent, key, value)
                if kind is not None and isinstance(sub, str):
                    self.add(kind, sub)
                else:
                    self.collect_json(sub, key)
        elif isinstance(value, list):
            for sub in value:
                self.collect_json(sub, parent)

    def text(self, text: str) -> str:
        """``text`` with every collected value masked, and resident numbers masked by pattern."""
        if self.forms and len(text) >= self._shortest:
            groups = self._sorted if self._sorted is not None else self._by_trigger()
            # Only the groups the text can hold: most texts are ASCII without escapes, and headers are short.
            # The non-ASCII groups go first, while the text is as it came (the ASCII forms' masks add "…").
            ascii_text = text.isascii()
            for group in groups:
                trigger = group.trigger
                # (a name's decomposed forms are tried whatever the text's normal form: one search for each is
                # cheaper than asking whether the text is in NFC, which reads every character more slowly)
                if trigger == "é":
                    if ascii_text:
                        continue
                elif trigger and trigger not in text:
                    continue
                text = group.scrub(text)
        return mask_rrn(text) if len(text) >= 13 else text  # shorter text cannot hold a resident number

    def _by_trigger(self) -> list[_Group]:
        """The forms by what a text must contain to hold them (see :func:`_grouped`)."""
        self._sorted = _grouped(tuple(self.forms.items()))
        self._shortest = min(map(len, self.forms))
        return self._sorted

    def json(self, value: Any, parent: str | None = None) -> Any:
        """A copy of a JSON value with personal members masked by meaning and every string scrubbed."""
        fields = personal_fields()
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out = {}
            for key, sub in value.items():
                kind = fields.kind(parent, key, value) if isinstance(key, str) else None
                if kind is not None and isinstance(sub, str):
                    out[key] = self.text(mask_as(kind, sub))
                else:
                    out[self.text(key) if isinstance(key, str) else key] = self.json(sub, key)
            return out
        if isinstance(value, list | tuple):
            return [self.json(sub, parent) for sub in value]
        return value


def mask_texts(*texts: str | None, scrubber: Scrubber | None = None) -> list[str | None]:
    """Mask the texts of one exchange together: values found by meaning in any of them are scrubbed from all."""
    scrubber = scrubber if scrubber is not None else Scrubber()
    for text in texts:
        scrubber.collect_text(text)
    return [scrubber.text(t) if t else t for t in texts]


def mask_json(value: Any, parent: str | None = None, scrubber: Scrubber | None = None) -> Any:
    """A parsed JSON value masked by meaning (its personal values scrubbed from all its strings too)."""
    scrubber = scrubber if scrubber is not None else Scrubber()
    scrubber.collect_json(value, parent)
    return scrubber.json(value, parent)


def person_values(patient: dict[str, Any]) -> list[tuple[str, Any]]:
    """``(kind, value)`` of a scenario patient's personal data (an ``emr-seed/patients.jsonl`` line)."""
    fields = personal_fields()
    out = []
    for key, value in patient.items():
        kind = fields.always.get(key) or ("name" if key == "name" else None)
        if key in ("resident_number", "resident_number_masked"):
            kind = "resident_number"
        if kind is not None:
            out.append((kind, value))
    return out


__all__ = ["PersonalFields", "Scrubber", "mask_as", "mask_birth_date", "mask_json", "mask_name",
           "mask_resident_number", "mask_rrn", "mask_texts", "mask_token", "person_values", "personal_fields"]
