"""The requirement catalogue of profile kit-v1: one entry per requirement, ids locked in ``catalogue.lock``.

Entries live as data, one TOML file per family (``api.toml``, ``tls.toml`` …). The DOC family also takes
every contract rule registered in :mod:`s24kit.schemas.rules`, so a rule and its requirement cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from ...schemas.rules import RULES

SUITE_VERSION = "kit-v1.0"
ROLES = ("provider_pull", "provider_agent")
FAMILIES = ("SCH", "DOC", "API", "SEC", "TLS", "NET")
ID_PATTERN = re.compile(rf"^S24-({'|'.join(FAMILIES)})-[0-9]{{3}}$")
LOCK_FILE = "catalogue.lock"
Level = Literal["MUST", "SHOULD"]


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement: what must hold, for whom, how to fix it, and where it comes from."""

    id: str
    title_ko: str
    title_en: str
    level: Level
    roles: tuple[str, ...]
    remedy_ko: str
    remedy_en: str
    source: str
    #: When a MUST requirement only warns: the requirement is met and a concern remains. Without it a MUST never
    #: warns (``conformance/checks/registry.py:within_level``).
    warns_ko: str = ""
    warns_en: str = ""
    #: Remedies for a particular finding (``Outcome.cause``), each ``{"remedy_ko": …, "remedy_en": …}``.
    causes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Data the check judges by, kept beside the requirement it serves (e.g. S24-TLS-006's suite lists).
    policy: dict[str, list[str]] = field(default_factory=dict)
    #: A withdrawn requirement: the id that replaced it (a change of meaning gets a new id). It stays in the
    #: catalogue and the lock, is listed as withdrawn, and no check runs for it. Not part of the fingerprint.
    superseded_by: str = ""

    @property
    def withdrawn(self) -> bool:
        return bool(self.superseded_by)

    @property
    def family(self) -> str:
        return self.id.split("-")[1]

    def fingerprint(self) -> str:
        """What the id means: level, roles and English title. A change here needs a new id."""
        meaning = json.dumps([self.level, sorted(self.roles), self.title_en], ensure_ascii=False)
        return hashlib.sha256(meaning.encode()).hexdigest()[:16]

    def title(self, lang: str) -> str:
        return self.title_ko if lang == "ko" else self.title_en

    def remedy(self, lang: str, cause: str | None = None) -> str:
        """The remedy, for a particular finding when the catalogue has one for ``cause``."""
        specific = self.causes.get(cause or "", {})
        key = "remedy_ko" if lang == "ko" else "remedy_en"
        return specific.get(key) or getattr(self, key)

    def as_dict(self) -> dict:
        return {**asdict(self), "roles": list(self.roles)}


class CatalogueError(ValueError):
    """A catalogue file is malformed; the message names the file, the entry and the field."""


_FIELDS = {"title_ko", "title_en", "level", "roles", "remedy_ko", "remedy_en", "source"}
_OPTIONAL = {"warns_ko", "warns_en", "causes", "policy", "superseded_by"}


def _parse(name: str, text: str) -> list[Requirement]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{name}: {exc}") from None
    found = []
    for entry in data.get("requirement", []):
        rid = entry.get("id", "?")
        if not ID_PATTERN.match(str(rid)):
            raise CatalogueError(f"{name}: id {rid!r} is not S24-FAM-nnn")
        if missing := sorted(_FIELDS - entry.keys()):
            raise CatalogueError(f"{name}: {rid} lacks {', '.join(missing)}")
        if extra := sorted(entry.keys() - _FIELDS - _OPTIONAL - {"id"}):
            raise CatalogueError(f"{name}: {rid} has unknown fields {', '.join(extra)}")
        if entry["level"] not in ("MUST", "SHOULD"):
            raise CatalogueError(f"{name}: {rid} level must be MUST or SHOULD")
        if not entry["roles"] or set(entry["roles"]) - set(ROLES):
            raise CatalogueError(f"{name}: {rid} roles must be a non-empty subset of {ROLES}")
        if bool(entry.get("warns_ko")) != bool(entry.get("warns_en")):
            raise CatalogueError(f"{name}: {rid} needs warns_ko and warns_en together")
        if "warns_en" in entry and entry["level"] != "MUST":
            raise CatalogueError(f"{name}: {rid} warns_ko/warns_en are for MUST requirements (a SHOULD only warns)")
        for cause, remedy in entry.get("causes", {}).items():
            if not isinstance(remedy, dict) or set(remedy) != {"remedy_ko", "remedy_en"}:
                raise CatalogueError(f"{name}: {rid} causes.{cause} needs exactly remedy_ko and remedy_en")
        found.append(Requirement(rid, entry["title_ko"], entry["title_en"], entry["level"],
                                 tuple(entry["roles"]), entry["remedy_ko"], entry["remedy_en"], entry["source"],
                                 entry.get("warns_ko", ""), entry.get("warns_en", ""), entry.get("causes", {}),
                                 entry.get("policy", {}), entry.get("superseded_by", "")))
    return found


def _from_rules() -> list[Requirement]:
    """Each contract rule is a DOC requirement; its remedy is to fix the field its finding names."""
    return [Requirement(r.id, r.title_ko, r.title_en, "MUST" if r.severity == "error" else "SHOULD", ROLES,
                        "보고서에 표시된 필드 값을 서식 규칙에 맞게 고치십시오.",
                        "Correct the field named in the finding so the rule holds.",
                        f"schemas/rules ({r.id}); docs/domain.md §2", superseded_by=r.superseded_by)
            for r in RULES.values()]


@cache
def requirements() -> dict[str, Requirement]:
    """Every requirement of the suite by id, sorted."""
    found = _from_rules()
    for item in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            found += _parse(item.name, item.read_text(encoding="utf-8"))
    by_id: dict[str, Requirement] = {}
    for req in found:
        if req.id in by_id:
            raise CatalogueError(f"requirement {req.id} defined twice")
        by_id[req.id] = req
    for req in by_id.values():
        if req.withdrawn and (req.superseded_by not in by_id or by_id[req.superseded_by].withdrawn):
            raise CatalogueError(f"{req.id}: superseded_by {req.superseded_by!r} is not a requirement in force")
    return dict(sorted(by_id.items()))


def requirement(rid: str) -> Requirement:
    return requirements()[rid]


def lock_text() -> str:
    """The lock file's content: one ``id fingerprint`` line per requirement."""
    lines = [f"# s24kit requirement lock, suite {SUITE_VERSION}. Regenerate: s24kit catalogue --lock",
             "# An id may be added, never removed or given a new meaning (tests/test_catalogue.py)."]
    lines += [f"{rid} {req.fingerprint()}" for rid, req in requirements().items()]
    return "\n".join(lines) + "\n"


def lock_path() -> Path:
    """The committed lock file in the source tree (``s24kit catalogue --lock`` rewrites it)."""
    return Path(__file__).parent / LOCK_FILE


def locked() -> dict[str, str]:
    """The committed lock: id → fingerprint."""
    text = resources.files(__package__).joinpath(LOCK_FILE).read_text(encoding="utf-8")
    return dict(line.split() for line in text.splitlines() if line and not line.startswith("#"))


def digest() -> str:
    """``sha256:…`` over the catalogue and the contract (schemas, rules): the rule-pack digest of reports."""
    h = hashlib.sha256()
    h.update(lock_text().encode())
    schemas_dir = resources.files("s24kit.schemas").joinpath("kit-v1")
    for item in sorted(schemas_dir.iterdir(), key=lambda p: p.name):
        if item.name.endswith((".json", ".yaml")):
            h.update(item.name.encode() + b"\0" + item.read_bytes())
    rules_dir = resources.files("s24kit.schemas").joinpath("rules")
    for item in sorted(rules_dir.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".py"):
            h.update(item.name.encode() + b"\0" + item.read_bytes())
    return "sha256:" + h.hexdigest()
