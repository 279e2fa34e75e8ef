"""Everything the project points a reader at exists in the project: documents, their sections, linked files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

TEXT = (".md", ".py", ".toml", ".json", ".yaml", ".j2", ".html", ".txt")
#: Documents that live outside the repository (the maintainers' own notes) must never be named.
OUTSIDE = re.compile(r"\bDESIGN\.md\b|\bDOMAIN\.md\b|\.\./shared\b|payout-rules\.reference")
SECTION = re.compile(r"\b(docs/[\w.-]+\.md) §(\d+(?:\.\d+)?)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _tracked() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.split() if name.endswith(TEXT) and (ROOT / name).is_file()]


FILES = _tracked()


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_no_file_points_outside_the_project():
    found = [f"{p.relative_to(ROOT)}:{n}: {m.group()}" for p in FILES
             for n, line in enumerate(_text(p).splitlines(), 1) for m in OUTSIDE.finditer(line)]
    assert not found, "\n".join(found)


def _sections(document: Path) -> set[str]:
    """The numbers of the document's numbered headings (``## 4. …`` → 4, ``### 2.1 …`` → 2.1)."""
    return {m[1] for m in re.finditer(r"^#+\s+(\d+(?:\.\d+)?)[.\s]", _text(document), re.MULTILINE)}


def test_every_named_section_exists():
    missing = set()
    for path in FILES:
        for document, section in SECTION.findall(_text(path)):
            target = ROOT / document
            if not target.is_file() or section not in _sections(target):
                missing.add(f"{path.relative_to(ROOT)} → {document} §{section}")
    assert not missing, "\n".join(sorted(missing))


@pytest.mark.parametrize("path", [p for p in FILES if p.suffix == ".md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_exists(path: Path):
    broken = [link for link in LINK.findall(_text(path))
              if "://" not in link and not link.startswith("mailto:") and not (path.parent / link).exists()]
    assert not broken, broken


def test_the_checks_find_what_they_look_for(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("see DES" + "IGN.md and [x](nowhere.md)\n## 4. Rules\n", encoding="utf-8")
    assert OUTSIDE.search(_text(page)) and LINK.findall(_text(page)) == ["nowhere.md"]
    assert _sections(page) == {"4"} and SECTION.findall("docs/domain.md" + " §4.2") == [("docs/domain.md", "4.2")]
