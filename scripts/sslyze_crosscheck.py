#!/usr/bin/env python3
"""Cross-check the kit's TLS verdicts against sslyze on the kit's own fixture servers.

sslyze (and nassl) are AGPL-3.0 and pin an older `cryptography`, so they are never a dependency of the
kit: this script installs sslyze into a separate virtual environment (default
~/.cache/s24kit/sslyze-venv, override with S24_SSLYZE_VENV) and runs it as a subprocess with
``--json_out``. It starts each fixture server on 127.0.0.1, runs the kit's TLS checks and sslyze against
it, and prints a table of agreements and differences: accepted versions, TLS 1.2 suites, weak suites,
trust by the relay's anchors, name match, expiry, and whether a client certificate is required.

    python3 scripts/sslyze_crosscheck.py            # exit 0 when every row agrees, 1 otherwise
    python3 scripts/sslyze_crosscheck.py --json out.json

Needs network access to PyPI once (to create the venv). See docs/sslyze-crosscheck.md for a recorded run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ is imported as a namespace package for its fixture servers

from s24kit.conformance.tls.certs import key_facts  # noqa: E402
from s24kit.conformance.tls.ciphers import TlsVersion, by_name  # noqa: E402
from s24kit.conformance.tls.endpoint import CERT_ERRORS, TlsEndpoint, handshake, run_tls_checks  # noqa: E402
from s24kit.conformance.tls.facts import facts_of  # noqa: E402
from s24kit.simulator.certfactory import CertFactory, new_key, write_bundle  # noqa: E402
from s24kit.simulator.pki import Credential  # noqa: E402
from tests.tls_servers import LOCAL, legacy_server, tls_server  # noqa: E402

VENV = Path(os.environ.get("S24_SSLYZE_VENV", "~/.cache/s24kit/sslyze-venv")).expanduser()
SSLYZE_REQUIREMENT = "sslyze>=6,<7"
NAME = "clinic.test"
SSLYZE_VERSIONS = {
    "ssl_3_0_cipher_suites": TlsVersion.SSL3, "tls_1_0_cipher_suites": TlsVersion.TLS1_0,
    "tls_1_1_cipher_suites": TlsVersion.TLS1_1, "tls_1_2_cipher_suites": TlsVersion.TLS1_2,
    "tls_1_3_cipher_suites": TlsVersion.TLS1_3,
}


def ensure_sslyze(folder: Path = VENV) -> Path:
    """The venv's python, creating the venv and installing sslyze on first use."""
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if python.exists() and _has_sslyze(python):
        return python
    print(f"installing {SSLYZE_REQUIREMENT} into {folder} (once) …", file=sys.stderr)
    venv.create(folder, with_pip=True, clear=not python.exists())
    subprocess.run([str(python), "-m", "pip", "install", "-q", SSLYZE_REQUIREMENT], check=True, timeout=600)
    return python


def _has_sslyze(python: Path) -> bool:
    done = subprocess.run([str(python), "-c", "import sslyze"], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


# ---------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Pki:
    anchors: Path
    client_ca: Credential
    relay: Credential
    creds: dict[str, Credential]


def build_pki(folder: Path) -> Pki:
    f = CertFactory()
    root = f.ca("Relay Test Root")
    inter = f.ca("Relay Test Intermediate", issuer=root)
    hosts = (NAME, LOCAL)
    rsa = new_key("rsa", bits=2048)
    leaves = {
        "good": f.leaf(inter, NAME, hosts=hosts),
        "good_rsa": f.leaf(inter, NAME, hosts=hosts, key=rsa),
        "expired": f.leaf(inter, NAME, hosts=hosts, days_left=-1),
        "wrong_name": f.leaf(inter, "other.test", hosts=("other.test",)),
        "self_signed": f.leaf(None, NAME, hosts=hosts),
        "rsa1024": f.leaf(inter, NAME, hosts=hosts, key=new_key("rsa", bits=1024)),
    }
    creds = {name: leaf.write(folder, name) for name, leaf in leaves.items()}
    creds["leaf_only"] = leaves["good"].write(folder, "leaf_only", with_chain=False)
    client_root = f.ca("Relay Client CA")
    client_ca = client_root.write(folder, "client_ca")
    relay = f.leaf(client_root, "relay-client", server=False, client=True).write(folder, "relay")
    return Pki(write_bundle(folder / "anchors.pem", root), client_ca, relay, creds)


MANY = 5000  # sslyze opens ~450 connections for the five version scans


def fixtures(pki: Pki) -> list[tuple[str, str, Callable[[], contextlib.AbstractContextManager[Any]]]]:
    """(name, what is wrong, server factory); each server yields an object with `.port`."""
    mtls = {"client_ca": pki.client_ca.cert, "max_connections": MANY}
    out: list[tuple[str, str, Callable[[], contextlib.AbstractContextManager[Any]]]] = [
        ("good", "TLS 1.2-1.3, ECDHE AEAD, mTLS required", lambda: tls_server(pki.creds["good"], **mtls)),
        ("tls12_rsa_kx", "TLS 1.2 only, plus RSA key exchange AES128-SHA",
         lambda: tls_server(pki.creds["good_rsa"], maximum=ssl.TLSVersion.TLSv1_2,
                            ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA", **mtls)),
        ("no_mtls", "no client certificate requested", lambda: tls_server(pki.creds["good"], max_connections=MANY)),
        ("expired", "expired certificate", lambda: tls_server(pki.creds["expired"], **mtls)),
        ("wrong_name", "certificate for other.test", lambda: tls_server(pki.creds["wrong_name"], **mtls)),
        ("self_signed", "self-signed certificate", lambda: tls_server(pki.creds["self_signed"], **mtls)),
        ("leaf_only", "intermediate not sent", lambda: tls_server(pki.creds["leaf_only"], **mtls)),
        ("rsa1024", "RSA-1024 key", lambda: tls_server(pki.creds["rsa1024"], ciphers="DEFAULT:@SECLEVEL=0", **mtls)),
    ]
    if importlib.util.find_spec("tlslite"):
        out.append(("legacy", "SSLv3 + TLS 1.0 with 3DES and RC4 only (tlslite-ng)",
                    lambda: legacy_server(pki.creds["good_rsa"], max_connections=MANY)))
    return out


# ---------------------------------------------------------------- the two views


def kit_view(pki: Pki, port: int) -> dict[str, Any]:
    ep = TlsEndpoint(LOCAL, port, NAME, pki.anchors, pki.relay.cert, pki.relay.key, timeout=3.0)
    start = time.perf_counter()
    results = {r.requirement: r.verdict for r in run_tls_checks(ep)}
    elapsed = time.perf_counter() - start
    facts = facts_of(ep)
    suites = {v: [s.name for s in scan.accepted] for v, scan in facts.legacy_suites().items()}
    leaf = facts.chain.leaf
    return {
        "seconds": round(elapsed, 3),
        "versions": sorted(v.label for v in facts.versions.accepted),
        "tls12_suites": sorted(suites.get(TlsVersion.TLS1_2, [])),
        "weak_suites": sorted({n for names in suites.values() for n in names if _weak(n)}),
        "validates": _validates(ep),
        "expired": None if leaf is None else leaf.not_valid_after_utc < dt.datetime.now(dt.UTC),
        "client_cert_required": results.get("S24-TLS-018") == "pass",
        "leaf_key": key_facts(leaf).label() if leaf is not None else None,
        "verdicts": results,
    }


def _validates(ep: TlsEndpoint) -> bool | None:
    """Does a verifying client (anchors, name, dates, OpenSSL security level 2) accept the certificate?

    None when no TLS 1.2+ handshake gets as far as the certificate (the kit's floor is TLS 1.2).
    """
    outcome = handshake(ep, with_client_cert=True, verify=True)
    if outcome.error in CERT_ERRORS:
        return False
    return True if outcome.ok or outcome.peer_chain else None


def sslyze_view(python: Path, pki: Pki, port: int, out: Path) -> dict[str, Any]:
    cmd = [str(python), "-m", "sslyze", f"--json_out={out}", "--quiet", "--mozilla_config=disable",
           "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--certinfo",
           f"--certinfo_ca_file={pki.anchors}", f"{NAME}:{port}{{{LOCAL}}}"]
    # No --cert: given a client certificate, sslyze reports client auth as DISABLED; without one it detects
    # REQUIRED and still scans suites and certificates (they come before client authentication).
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.perf_counter() - start
    data = json.loads(out.read_text())
    server = data["server_scan_results"][0]
    view: dict[str, Any] = {"seconds": round(elapsed, 3), "exit_code": done.returncode,
                            "connectivity": server.get("connectivity_status")}
    if server.get("connectivity_status") != "COMPLETED":
        view["error"] = server.get("connectivity_error_trace", "")[-300:]
        return view
    scan = server["scan_result"]
    accepted: dict[TlsVersion, list[str]] = {}
    for key, version in SSLYZE_VERSIONS.items():
        result = (scan.get(key) or {}).get("result") or {}
        names = [c["cipher_suite"]["name"] for c in result.get("accepted_cipher_suites", [])]
        if names:
            accepted[version] = names
    view["versions"] = sorted(v.label for v in accepted)
    view["tls12_suites"] = sorted(accepted.get(TlsVersion.TLS1_2, []))
    view["weak_suites"] = sorted({n for names in accepted.values() for n in names if _weak(n)})
    requirement = (server.get("connectivity_result") or {}).get("client_auth_requirement")
    view["client_cert_required"] = requirement == "REQUIRED"
    view["client_auth"] = requirement
    info = ((scan.get("certificate_info") or {}).get("result") or {}).get("certificate_deployments") or []
    if info:
        deployment = info[0]
        custom = [p for p in deployment["path_validation_results"] if p["trust_store"].get("path") == str(pki.anchors)]
        view["validates"] = bool(custom and custom[0]["was_validation_successful"])
        view["validation_error"] = custom[0].get("validation_error") if custom else "no custom store result"
        leaf = deployment["received_certificate_chain"][0]
        not_after = dt.datetime.fromisoformat(leaf["not_valid_after"])
        if not_after.tzinfo is None:
            not_after = not_after.replace(tzinfo=dt.UTC)
        view["expired"] = not_after < dt.datetime.now(dt.UTC)
        key = leaf.get("public_key") or {}
        view["leaf_key"] = f"{key.get('algorithm')} {key.get('key_size')}"
    return view


def _weak(iana_name: str) -> bool:
    suite = by_name(iana_name)
    return bool(suite and suite.weak)


# ---------------------------------------------------------------- comparing


ASPECTS = ("versions", "tls12_suites", "weak_suites", "validates", "expired", "client_cert_required")


def compare(kit: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, Any, Any, bool | None]]:
    """(aspect, kit, sslyze, agree); agree is None when the kit does not judge the aspect on this server."""
    rows: list[tuple[str, Any, Any, bool | None]] = []
    for aspect in ASPECTS:
        mine = kit.get(aspect)
        if aspect not in other:
            rows.append((aspect, mine, other.get("error", "(not reported)"), False))
        elif mine is None:
            rows.append((aspect, "(not judged)", other[aspect], None))
        else:
            rows.append((aspect, mine, other[aspect], mine == other[aspect]))
    return rows


def _cell(value: Any, width: int) -> str:
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    text = text or "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write every view and row to this file")
    parser.add_argument("--venv", type=Path, default=VENV, help=f"sslyze venv (default {VENV})")
    args = parser.parse_args(argv)
    python = ensure_sslyze(args.venv)
    version = subprocess.run([str(python), "-m", "pip", "show", "sslyze"], capture_output=True, text=True,
                             check=True, timeout=60).stdout.split("Version:", 1)[1].split()[0]
    report: dict[str, Any] = {"sslyze": version, "python": sys.version.split()[0], "openssl": ssl.OPENSSL_VERSION,
                              "fixtures": []}
    differences = 0
    with tempfile.TemporaryDirectory(prefix="s24kit-sslyze-") as tmp:
        folder = Path(tmp)
        pki = build_pki(folder)
        print(f"sslyze {version} vs silson24-kit TLS checks ({ssl.OPENSSL_VERSION})\n")
        print(f"{'fixture':<13} {'aspect':<21} {'kit':<44} {'sslyze':<44} agree")
        for name, what, start in fixtures(pki):
            with start() as server:
                port = server if isinstance(server, int) else server.port
                kit = kit_view(pki, port)
                other = sslyze_view(python, pki, port, folder / f"{name}.json")
            rows = compare(kit, other)
            differences += sum(1 for row in rows if row[3] is False)
            for aspect, mine, theirs, same in rows:
                mark = {True: "yes", False: "NO", None: "n/a"}[same]
                print(f"{name:<13} {aspect:<21} {_cell(mine, 44):<44} {_cell(theirs, 44):<44} {mark}")
            print(f"{'':<13} {'time (s)':<21} {kit['seconds']:<44} {other['seconds']:<44}")
            report["fixtures"].append({"name": name, "what": what, "kit": kit, "sslyze": other,
                                       "rows": [dict(zip(("aspect", "kit", "sslyze", "agree"), r, strict=True))
                                                for r in rows]})
    print(f"\n{differences} difference(s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
