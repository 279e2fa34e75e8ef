"""Signed decision records: the console's key, the signature, and `s24kit report verify` on a record."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from s24kit.conformance.cli import main
from s24kit.conformance.console.signing import KEY_FILE, PUBLIC_KEY_FILE, SigningKeyError, console_signing_key
from s24kit.conformance.reports.record import check_record, dumps, raw_public_key, sign_record

from .conftest import EXAMPLES, load_example

EVIDENCE = b"PK\x03\x04 pretend evidence bundle"


def unsigned(**overrides) -> dict:
    record = {k: v for k, v in load_example("decision-record").items() if k != "signature"}
    record["run"] = {**record["run"], "evidence_sha256": hashlib.sha256(EVIDENCE).hexdigest()}
    record.update(overrides)
    return record


def verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", "verify", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_the_shipped_example_is_genuinely_signed():
    assert check_record(load_example("decision-record")).problems == []
    assert verify(str(EXAMPLES / "decision-record.json"))[0] == 0


@pytest.mark.parametrize(("path", "value"), [
    (("decision",), "rejected"),
    (("reason",), "다른 사유 / another reason"),
    (("decided_by",), "someone-else"),
    (("subject", "provider_code"), "99390002"),
    (("run", "evidence_sha256"), "0" * 64),
    (("run", "verdict"), "fail"),
])
def test_a_record_changed_after_signing_is_refused(tmp_path, path, value):
    record = sign_record(unsigned(), Ed25519PrivateKey.generate())
    tampered = copy.deepcopy(record)
    target = tampered
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert [p.kind for p in check_record(tampered).problems] == ["tampered"]
    file = tmp_path / "record.json"
    file.write_text(dumps(tampered), encoding="utf-8")
    code, output = verify(str(file), "--lang", "en")
    assert code == 1 and "record NOT verified" in output and "changed after signing" in output
    file.write_text(dumps(record), encoding="utf-8")
    assert verify(str(file))[0] == 0


def test_a_record_signed_by_another_key_is_refused_when_the_key_is_given(tmp_path):
    console = console_signing_key(tmp_path / "state")
    record = tmp_path / "record.json"
    record.write_text(dumps(sign_record(unsigned(), Ed25519PrivateKey.generate())), encoding="utf-8")
    # alone the record is self-consistent; pinned to the console's public key it is not the console's
    assert verify(str(record))[0] == 0
    code, output = verify(str(record), "--key", str(tmp_path / "state" / PUBLIC_KEY_FILE), "--lang", "en")
    assert code == 1 and "signed with another key" in output
    record.write_text(dumps(sign_record(unsigned(), console)), encoding="utf-8")
    for key_file in (PUBLIC_KEY_FILE, KEY_FILE):  # the public PEM, or the console's own key file
        assert verify(str(record), "--key", str(tmp_path / "state" / key_file))[0] == 0


def test_the_key_may_be_given_as_the_base64_key_of_a_record(tmp_path, monkeypatch):
    import base64

    monkeypatch.chdir(tmp_path)  # the values are looked for as files first: none of these is one here
    record = tmp_path / "record.json"
    signed = sign_record(unsigned(), Ed25519PrivateKey.generate())
    record.write_text(dumps(signed), encoding="utf-8")
    code, output = verify(str(record), "--key", signed["signature"]["public_key"])
    assert code == 0 and "주어진 키 / the given key" in output
    other = base64.b64encode(raw_public_key(Ed25519PrivateKey.generate().public_key())).decode()
    code, output = verify(str(record), "--key", other, "--lang", "en")
    assert code == 1 and "signed with another key" in output
    # not a file, and not the base64 of 32 bytes: the file's error, as before
    for value in ("dec1.pub.pem", base64.b64encode(b"x" * 31).decode(), "not base64!"):
        code, output = verify(str(record), "--key", value)
        assert code == 2 and "--key" in output and output.count("\n") == 1, output


def test_the_evidence_in_hand_must_be_the_one_the_record_names(tmp_path):
    record = tmp_path / "record.json"
    record.write_text(dumps(sign_record(unsigned(), Ed25519PrivateKey.generate())), encoding="utf-8")
    evidence = tmp_path / "evidence.zip"
    evidence.write_bytes(EVIDENCE)
    assert verify(str(record), "--evidence", str(evidence))[0] == 0
    evidence.write_bytes(EVIDENCE + b"!")
    code, output = verify(str(record), "--evidence", str(evidence), "--lang", "en")
    assert code == 1 and "other evidence" in output


@pytest.mark.parametrize(("content", "needle"), [
    ('{"hello": 1}', "not a signed decision record"),
    ("not json at all", "neither an evidence bundle"),
    ("[]", "not a signed decision record"),
])
def test_what_is_not_a_record_gets_one_line_and_exit_2(tmp_path, content, needle):
    path = tmp_path / "record.json"
    path.write_text(content, encoding="utf-8")
    code, output = verify(str(path))
    assert code == 2 and needle in output and output.count("\n") == 1 and "오류:" in output


def test_a_bad_key_file_is_refused_in_one_line(tmp_path):
    record = tmp_path / "record.json"
    record.write_text(dumps(load_example("decision-record")), encoding="utf-8")
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n", encoding="utf-8")
    code, output = verify(str(record), "--key", str(key))
    assert code == 2 and "--key" in output and output.count("\n") == 1


def test_a_signature_stripped_or_broken_is_tampering():
    record = load_example("decision-record")
    record["signature"]["value"] = "A" * 86 + "=="
    assert [p.kind for p in check_record(record).problems] == ["tampered"]
    del record["signature"]
    assert [p.kind for p in check_record(record).problems] == ["tampered"]


def test_signing_refuses_a_record_the_schema_refuses():
    with pytest.raises(ValueError, match="decision-record"):
        sign_record(unsigned(run=None), Ed25519PrivateKey.generate())  # accepted needs its run
    with pytest.raises(ValueError, match="decision-record"):
        sign_record(unsigned(decision="certified"), Ed25519PrivateKey.generate())  # a site is not certified


# ------------------------------------------------------------------------------------ the console's key


def test_the_key_is_made_once_private_and_kept(tmp_path):
    state = tmp_path / "state"
    first = console_signing_key(state)
    assert (state / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert state.stat().st_mode & 0o777 == 0o700
    assert raw_public_key(console_signing_key(state).public_key()) == raw_public_key(first.public_key())
    assert b"PUBLIC KEY" in (state / PUBLIC_KEY_FILE).read_bytes()


def test_processes_asking_at_once_share_one_key(tmp_path):
    state = tmp_path / "state"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(raw_public_key(console_signing_key(state).public_key())))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in state.iterdir() if p.name.startswith(".signing-key-")] == []


def test_a_key_others_can_read_or_a_broken_key_is_refused(tmp_path):
    state = tmp_path / "state"
    console_signing_key(state)
    os.chmod(state / KEY_FILE, 0o644)
    with pytest.raises(SigningKeyError, match="readable by other users"):
        console_signing_key(state)
    Path(state / KEY_FILE).write_text("garbage", encoding="utf-8")
    os.chmod(state / KEY_FILE, 0o600)
    with pytest.raises(SigningKeyError, match="cannot read the signing key"):
        console_signing_key(state)


def test_the_record_is_json_with_korean_kept_readable():
    text = dumps(load_example("decision-record"))
    assert "시뮬레이션" in text and json.loads(text) == load_example("decision-record")


def test_problem_lines_are_korean_then_english_as_the_summary(tmp_path):
    console = console_signing_key(tmp_path / "state")
    record = tmp_path / "record.json"
    record.write_text(dumps(sign_record(unsigned(), Ed25519PrivateKey.generate())), encoding="utf-8")
    for lang in ("ko", "en"):
        code, output = verify(str(record), "--key", str(tmp_path / "state" / PUBLIC_KEY_FILE), "--lang", lang)
        (line,) = [line for line in output.splitlines() if line.startswith("문제 / problem: ")]
        assert code == 1 and "다른 키로 서명되었습니다" in line and "signed with another key" in line, output
        assert line.index("다른 키로") < line.index("signed with another key")
    assert console is not None
