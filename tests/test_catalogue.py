"""The requirement catalogue: well-formed, every id locked, no locked id removed or given a new meaning."""

from __future__ import annotations

import pytest

from s24kit.conformance.catalogue import ID_PATTERN, CatalogueError, _parse, digest, lock_text, locked, requirements


def test_every_locked_id_still_exists_with_the_same_meaning():
    current = requirements()
    for rid, fingerprint in locked().items():
        assert rid in current, f"{rid} was removed from the catalogue; ids are never removed"
        assert current[rid].fingerprint() == fingerprint, f"{rid} changed meaning; give the change a new id"


def test_every_id_is_locked():
    missing = sorted(set(requirements()) - set(locked()))
    assert not missing, f"not in catalogue.lock (run `s24kit catalogue --lock`): {missing}"


def test_lock_file_is_what_lock_text_writes():
    assert set(locked()) == {line.split()[0] for line in lock_text().splitlines() if not line.startswith("#")}


def test_entries_are_complete_and_bilingual():
    for req in requirements().values():
        assert ID_PATTERN.match(req.id)
        assert req.title_ko and req.title_en and req.remedy_ko and req.remedy_en and req.source, req.id
        assert any("\uac00" <= ch <= "\ud7a3" for ch in req.title_ko + req.remedy_ko), f"{req.id}: Korean text"


def test_fingerprint_changes_with_meaning():
    req = next(iter(requirements().values()))
    import dataclasses
    assert dataclasses.replace(req, title_en=req.title_en + " (changed)").fingerprint() != req.fingerprint()
    assert dataclasses.replace(req, remedy_en="another remedy").fingerprint() == req.fingerprint()


@pytest.mark.parametrize("text, complaint", [
    ('[[requirement]]\nid = "S24-XYZ-001"', "is not S24-FAM-nnn"),
    ('[[requirement]]\nid = "S24-API-900"\ntitle_ko = "가"', "lacks"),
    ('[[requirement]]\nid = "S24-API-900"\ntitle_ko="가"\ntitle_en="a"\nlevel="MAY"\nroles=["provider_pull"]\n'
     'remedy_ko="가"\nremedy_en="a"\nsource="x"', "MUST or SHOULD"),
    ('[[requirement]\n', "api.toml"),
])
def test_malformed_entries_are_refused_with_the_field_named(text, complaint):
    with pytest.raises(CatalogueError, match=complaint):
        _parse("api.toml", text)


def test_digest_is_stable_and_shaped():
    assert digest() == digest()
    assert digest().startswith("sha256:") and len(digest()) == 71
