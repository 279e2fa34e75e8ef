"""The suite's side of the wire: it plays the relay toward a provider's connector and keeps what it saw.

A :class:`Session` is the context of every ``kind="http"`` check. It talks to one :class:`Target` with the
relay's client certificate, journals every exchange (:class:`~s24kit.simulator.journal.Journal`), and
computes once what many checks judge: the searches and fetches of every scenario patient, and a fixed set of
requests that must be refused (unknown patient, bad consent, malformed bodies …). Checks only read these.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shlex
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from ..schemas.identifiers import FULL_RRN
from ..simulator.journal import Journal, JournalTransport
from ..simulator.masking import Scrubber, mask_as, mask_json, person_values, personal_fields
from ..simulator.pki import certificate_role
from ..simulator.provider import Scenario
from .reproduction import STRANGER, STRANGER_ID, RequestFiles, masked_body, rebuild_options, shell_line
from .tls.probe import SpeaksTls, Timeouts, speaks_tls

ALL_TYPES = ("medical_receipt", "itemised_statement", "prescription", "pharmacy_receipt")
SEARCH, FETCH = "visits:search", "documents:fetch"
BASE = "/s24/v1/"
HEALTH = BASE + "health"
KST = dt.timezone(dt.timedelta(hours=9))
OVERSIZED_BYTES = 2 * 1024 * 1024
NO_SUCH_VISIT = "V-S24KIT-NO-SUCH-VISIT-0001"
WORKERS = 4  # parallel searches/fetches while gathering the scenario: bounded, gentle on small EMR servers
#: A round trip for which this process (all its threads) spent at least this share of the wall time in CPU was
#: answered inside the process: a provider served in a thread, as in Python tests (see Session.workers).
IN_PROCESS_CPU_SHARE = 0.9
MAX_EVIDENCE = 20  # evidence items per verdict; the reason gives the full count
MAX_PER_ANSWER = 5  # schema findings taken from one answer: past them, one broken answer would drown the rest
FETCH_CHUNK = 100  # document-fetch.schema.json: visit_ids maxItems
#: The test PKI's client certificates that must not search or fetch (S24-SEC-006), in the order tried.
OTHER_ROLES = ("patient-app", "provider-agent")

T = TypeVar("T")


class TargetUnreachable(Exception):
    """The target's health endpoint cannot even be connected to (runner exit code 3)."""

    def __init__(self, message_ko: str, message_en: str) -> None:
        super().__init__(f"{message_ko} / {message_en}")
        self.message_ko, self.message_en = message_ko, message_en


class TlsFinding(TargetUnreachable):
    """The target answers, but no HTTP request can be sent to it over verified TLS: a finding, not unreachable.

    The TLS checks judge the port; every requirement judged over HTTP fails with ``reason_ko``/``reason_en`` and
    ``error`` as its evidence (expected ``expected``).
    """

    expected = "TLS"
    reason_ko = reason_en = ""

    def __init__(self, url: str, error: str, message_ko: str, message_en: str) -> None:
        super().__init__(message_ko, message_en)
        self.url, self.error = url, error


class CertificateRejected(TlsFinding):
    """The target speaks TLS, but its server certificate does not verify against the CA the suite trusts."""

    expected = "verified"
    reason_ko, reason_en = "서버 인증서 검증 실패로", "the server certificate does not verify"

    def __init__(self, url: str, error: str, ca: Path | None) -> None:
        where = str(Path(ca).absolute()) if ca else "the system store"  # the reader may be in another folder
        super().__init__(url, error,
                         f"{url}의 서버 인증서를 검증할 수 없습니다: {error} (신뢰하는 CA: {where}; 다른 CA 파일은 "
                         f"--ca FILE, pytest에서는 --s24-ca=FILE로 지정). TLS 검사만 하고 HTTP 검사는 부적합입니다",
                         f"the server certificate of {url} does not verify: {error} (trusted CA: {where}; choose "
                         f"another CA file with --ca FILE, in pytest --s24-ca=FILE). The TLS checks run; every HTTP "
                         f"check fails")
        self.ca = ca


class NotTls(TlsFinding):
    """The target's port answers, but not in TLS (plain HTTP, or another protocol)."""

    expected = "TLS ServerHello"
    reason_ko, reason_en = "포트가 TLS로 응답하지 않아", "the port does not answer TLS"

    def __init__(self, url: str, error: str) -> None:
        super().__init__(url, error,
                         f"{url}의 포트가 TLS로 응답하지 않습니다: {error} — 커넥터가 TLS 1.2 이상으로 이 포트를 "
                         f"서비스해야 합니다. TLS 검사(S24-TLS-001)만 판정하고 HTTP 검사는 부적합입니다",
                         f"the port of {url} does not answer TLS: {error} — the connector must serve this port over "
                         f"TLS 1.2 or later. S24-TLS-001 judges it; every HTTP check fails")


def not_tls(url: str, timeout: float) -> str | None:
    """What answers on ``url``'s port when it is not TLS (plain HTTP, another protocol); None otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    speech = speaks_tls(parts.hostname, parts.port or 443, timeout=Timeouts(connect=timeout, read=timeout))
    if speech.outcome is SpeaksTls.PLAIN_HTTP:
        return "plain HTTP" + (f" ({speech.reply.detail})" if speech.reply and speech.reply.detail else "")
    if speech.outcome is SpeaksTls.NOT_TLS:
        return f"another protocol (first bytes {speech.first_bytes_hex[:32]})"
    return None


def certificate_rejection(url: str, context: Callable[[], ssl.SSLContext], timeout: float) -> str | None:
    """Why ``url``'s server certificate fails verification under ``context()``, when a handshake that does not
    verify it completes (the target speaks TLS); None when it verifies, or no handshake completes at all."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    address = (parts.hostname, parts.port or 443)
    try:
        with socket.create_connection(address, timeout=timeout) as raw, \
                context().wrap_socket(raw, server_hostname=parts.hostname):
            return None
    except ssl.SSLCertVerificationError as exc:
        error = exc.verify_message or str(exc)
    except (OSError, ssl.SSLError):
        return None
    lenient = context()  # the same client certificate: a server requiring one completes no handshake without it
    lenient.check_hostname, lenient.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(address, timeout=timeout) as raw, \
                lenient.wrap_socket(raw, server_hostname=parts.hostname):
            return error
    except (OSError, ssl.SSLError):
        return None


@dataclass(frozen=True)
class CredentialOrigin:
    """Where the suite's CA and its own certificate came from: an option, or the kit's test PKI in ``pki``."""

    ca_from_pki: bool
    cert_from_pki: bool
    pki: Path | None = None
    pki_created: bool = False  # the PKI's root was made by this run: no connector trusts it yet


@dataclass(frozen=True)
class Target:
    """The provider under test and how to reach it."""

    url: str
    scenario: Path
    role: str = "provider_pull"
    provider_code: str | None = None
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout: float = 5.0
    # provider_agent only: the suite serves the relay's agent endpoints at ``url`` (client_cert/key are then its
    # server certificate, ca_bundle the CA of the agents' certificates)
    agent_cert_sha256: str | None = None  # pin of the agent's client certificate (hex SHA-256 of DER)
    agent_wait: float = 60.0  # seconds to wait for the agent's first poll
    # S24-API-017: the product version (vendor, name, version) the site is registered with, and the versions
    # certified so far (None: not judged) — the console's site check sets them, ``s24kit check --product`` too
    product: tuple[str, str, str] | None = None
    certified: frozenset[tuple[str, str, str]] | None = None
    origin: CredentialOrigin | None = None  # where ca_bundle and client_cert came from (the banner says it)


@dataclass
class Exchange:
    """One request the suite sent and what came back (``status`` None and ``error`` set on a transport error)."""

    request_id: str | None
    method: str
    url: str
    status: int | None
    headers: dict[str, str]  # response headers, lower-case names
    body: Any  # parsed JSON, or None when the body is not UTF-8 JSON
    text: str
    elapsed_ms: float
    exchange_id: str | None
    error: str | None
    request_body: bytes
    request_headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""  # the raw response body
    #: True: sent with the suite's (the relay's) client certificate; False: with none; a pair of paths: with that
    #: certificate and key instead (another role's, S24-SEC-006).
    certificate: bool | tuple[str, str] = True
    body_shell: str | None = None  # shell command printing request_body (curl of bodies too big for one line)

    @property
    def media_type(self) -> str:
        """``application/json`` from ``application/json; charset=utf-8`` (empty when absent)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def code(self) -> str | None:
        """The problem ``code`` of an error answer."""
        return self.body.get("code") if isinstance(self.body, dict) else None

    @functools.cached_property
    def scan_text(self) -> str:
        """Every string of ``body`` (object keys too) in one text, for a quick scan before walking the fields.

        A pattern that finds nothing here is in no string of the body (checks walk :func:`strings` for the
        pointers only when it finds something). Without a backslash in the raw JSON the strings stand in
        ``text`` verbatim, each between quotes, and outside them is only ASCII punctuation, numbers and
        literals: ``text`` itself is the view (a match outside a string just costs a walk). With escapes the
        decoded strings are joined by newlines, which neither continue a number nor compose with a mark.
        """
        if self.body is None or "\\" not in self.text:
            return self.text
        return "\n".join(all_strings(self.body, []))

    @functools.cached_property
    def unreadable(self) -> tuple[str, str] | None:
        """Why an answer's body cannot be read as UTF-8 JSON, ``(korean, english)``; None when it can (or is empty).

        The root cause of every finding about the answer's content: S24-SCH-006 reports it, and the checks that
        read the content name it instead of reporting each field as missing.
        """
        if self.status is None or self.body is not None or not self.content.strip():
            return None
        if self.content.startswith(b"\xef\xbb\xbf"):
            return "본문이 BOM으로 시작함", "the body starts with a byte order mark (BOM)"
        try:
            text = self.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"UTF-8이 아닌 바이트 (위치 {exc.start})", f"bytes that are not UTF-8 (at byte {exc.start})"
        try:
            json.loads(text)
        except ValueError as exc:
            return f"JSON이 아님: {exc}", f"not JSON: {exc}"
        return None

    @property
    def answered(self) -> str:
        """``404 unknown_patient``, ``200``, or the transport error: what the target did, for messages."""
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status} {self.code}" if self.code else str(self.status)


def new_request_id() -> str:
    """A fresh request id (common.schema.json request_id pattern)."""
    return f"s24kit-{_letters()}"


def _letters(n: int = 32) -> str:
    """Random lowercase letters: no digit runs, so an id can never look like a resident number."""
    return os.urandom((n + 1) // 2).hex()[:n].translate(_NO_DIGITS)  # uuid4 costs 3x, for 6 fixed bits


_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def now_kst() -> dt.datetime:
    return dt.datetime.now(KST).replace(microsecond=0)


class Session:
    """The relay's conversation with one target; see the module docstring."""

    def __init__(self, target: Target, journal: Journal | None = None) -> None:
        self.target = target
        self.scenario = Scenario.load(Path(target.scenario), target.provider_code)
        self.journal = journal if journal is not None else Journal()
        self._recorded = _Remembering(self.journal)
        visits = sorted(self.scenario.visits.values(), key=lambda v: v["visit_id"])
        # The search period covers every visit, so a patient's expected visits are simply all of theirs.
        self._period = {"start": min(v["start_date"] for v in visits), "end": max(v["end_date"] for v in visits)}
        self._visits_of: dict[str, dict[str, dict[str, Any]]] = {}
        for visit in visits:
            self._visits_of.setdefault(visit["patient_id"], {})[visit["visit_id"]] = visit
        self.party = f"relay→provider:{self.scenario.provider_code}"
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()  # guards self.exchanges
        self._once_lock = threading.RLock()  # one computation of a shared value at a time (they nest)
        self._cache: dict[Any, Any] = {}
        self._urls: dict[str, httpx.URL] = {}
        self.workers = WORKERS  # searches and fetches in flight at once (_connect may choose one)
        self.requests = RequestFiles()  # the bodies reproduction lines send (the runner sets the folder)
        self._connect()

    def _connect(self) -> None:
        """Connect to the target and ask its health (``TargetUnreachable`` when it cannot be reached)."""
        target = self.target
        self.client = self._client(certificate=True)
        cpu, wall = time.process_time(), time.perf_counter()
        health = self.get(HEALTH)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        # Worker threads hide the target's time. When that time is this process's own (the health answer cost
        # as much CPU here as it took), more threads only contend for the interpreter: one is faster.
        self.workers = 1 if cpu >= IN_PROCESS_CPU_SHARE * wall else WORKERS
        # Unreachable: no connection, no TLS session, or the connection dropped. A slow answer (read timeout)
        # is not: the target is there, and S24-API-014 judges its slowness.
        if health.status is None and not (health.error or "").startswith("ReadTimeout"):
            self.close()
            error = certificate_rejection(target.url, lambda: self._ssl_context(certificate=True), target.timeout)
            if error is not None:
                raise CertificateRejected(target.url, error, target.ca_bundle)
            answer = not_tls(target.url, target.timeout)
            if answer is not None:
                raise NotTls(target.url, answer)
            raise TargetUnreachable(f"{target.url}에 연결할 수 없습니다: {health.error}",
                                    f"cannot connect to {target.url}: {health.error}")
        self._cache["health"] = health

    # -- transport ----------------------------------------------------------------------------------------

    def _ssl_context(self, certificate: bool | tuple[str, str]) -> ssl.SSLContext:
        ca = self.target.ca_bundle
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if isinstance(certificate, tuple):
            context.load_cert_chain(*certificate)
        elif certificate and self.target.client_cert:
            context.load_cert_chain(self.target.client_cert, self.target.client_key)
        return context

    def _client(self, *, certificate: bool | tuple[str, str]) -> httpx.Client:
        inner = httpx.HTTPTransport(verify=self._ssl_context(certificate),
                                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))
        party = (self.party + f" (certificate {Path(certificate[0]).name})" if isinstance(certificate, tuple)
                 else self.party if certificate else self.party + " (no client certificate)")
        transport = JournalTransport(inner, self._recorded, party)  # type: ignore[arg-type]
        client = httpx.Client(transport=transport, timeout=httpx.Timeout(self.target.timeout), follow_redirects=False)
        client._s24_certificate = certificate  # type: ignore[attr-defined]  # read by curl()
        client._s24_transport = transport  # type: ignore[attr-defined]  # raw() sends through it directly
        return client

    def client_without_certificate(self) -> httpx.Client:
        """A client that trusts the target's CA but presents no certificate (the caller closes it)."""
        return self._client(certificate=False)

    def client_with_certificate(self, cert: Path, key: Path) -> httpx.Client:
        """A client presenting ``cert`` instead of the relay's certificate (the caller closes it)."""
        return self._client(certificate=(str(cert), str(key)))

    def other_role_credential(self) -> tuple[Path, Path, str] | None:
        """A client certificate of the relay certificate's own CA with another role, and that role.

        The kit's test PKI keeps the patient app's and the provider agent's certificates beside the relay's;
        with a certificate of another origin (``--cert``) there is none, and None is returned.
        """
        if not self.target.client_cert:
            return None
        relay = Path(self.target.client_cert)
        try:
            issuer = x509.load_pem_x509_certificate(relay.read_bytes()).issuer
        except (OSError, ValueError):
            return None
        for name in OTHER_ROLES:
            cert, key = relay.with_name(f"{name}.pem"), relay.with_name(f"{name}.key")
            try:
                pem = cert.read_text(encoding="ascii")
                same_ca = x509.load_pem_x509_certificate(pem.encode()).issuer == issuer
            except (OSError, ValueError):
                continue
            role = certificate_role(pem)
            if same_ca and key.is_file() and role is not None and role != "relay":
                return cert, key, role
        return None

    def raw(self, method: str, path: str, *, content: bytes = b"", headers: dict[str, str] | None = None,
            client: httpx.Client | None = None, request_id: str | None = None,
            body_shell: str | None = None) -> Exchange:
        """Send exactly these bytes; never raises for transport errors (they become ``Exchange.error``)."""
        url = self.target.url.rstrip("/") + path
        headers = dict(headers or {})
        client = client or self.client
        certificate = getattr(client, "_s24_certificate", False)
        transport: JournalTransport | None = getattr(client, "_s24_transport", None)
        self._recorded.local.last = None
        start = time.perf_counter()
        try:
            if transport is None:  # a client made elsewhere
                response = client.request(method, url, content=content or None, headers=headers,
                                          extensions={"s24_route": path})
                raw_body, exchange_id = response.content, response.extensions.get("s24_exchange")
            else:
                # Straight to the journal transport, with the client's default headers: the client's other
                # layers (URL merging, cookies, auth, redirects) and a response object around bytes already read
                # cost a quarter of a small exchange, and the relay wants none of them (no cookies either: every
                # request stands alone, as its curl reproduction does).
                sent = httpx.Headers(client.headers)
                sent.update(headers)
                response, raw_body, _, exchange_id = transport.exchange(httpx.Request(
                    method, self._url(url), content=content or None, headers=sent,
                    extensions={"s24_route": path, "timeout": client.timeout.as_dict()}))
                if "content-encoding" in response.headers:  # decoded as httpx does (DecodingError: no answer)
                    raw_body = httpx.Response(response.status_code, headers=response.headers,
                                              content=raw_body).read()
        except httpx.HTTPError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            return self._keep(Exchange(request_id, method, url, None, {}, None, "", elapsed,
                                       self._recorded.local.last, f"{type(exc).__name__}: {exc}", content, headers,
                                       certificate=certificate, body_shell=body_shell))
        elapsed = (time.perf_counter() - start) * 1000
        body: Any = None
        try:
            text = raw_body.decode("utf-8")
            body = json.loads(text) if text.strip() else None
        except UnicodeDecodeError:  # S24-SCH-006 reports it; the text stays readable for the other checks
            text = raw_body.decode("utf-8", errors="replace")
        except ValueError:
            pass
        return self._keep(Exchange(request_id, method, url, response.status_code,
                                   {k.lower(): v for k, v in response.headers.items()}, body, text, elapsed,
                                   exchange_id, None, content, headers, raw_body, certificate, body_shell))

    def _url(self, url: str) -> httpx.URL:
        """``url`` parsed once (httpx parses a string URL on every request; the session uses a handful)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    def _keep(self, exchange: Exchange) -> Exchange:
        with self._lock:
            self.exchanges.append(exchange)
        return exchange

    def get(self, path: str) -> Exchange:
        return self.raw("GET", path)

    def ask(self, operation: str, body: dict[str, Any], *, client: httpx.Client | None = None) -> Exchange:
        """POST ``body`` to ``/s24/v1/<operation>`` as the relay (a fresh ``request_id`` unless given)."""
        body = {"request_id": new_request_id(), **body}
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return self.raw("POST", BASE + operation, content=content, headers={"content-type": "application/json"},
                        client=client, request_id=body["request_id"])

    def curl(self, exchange: Exchange) -> str:
        """One shell line that repeats ``exchange`` with the kit's client certificate (see :mod:`.reproduction`).

        The body is sent from a file in the report folder, masked; a body with a patient, a request id or a
        consent is rebuilt first by ``s24kit report body`` (the patient from the scenario, a fresh request id).
        """
        target = self.target
        parts = ["curl", "-sS", "-i", "-X", exchange.method]
        if target.ca_bundle:
            parts += ["--cacert", str(Path(target.ca_bundle).absolute())]
        if isinstance(exchange.certificate, tuple):
            parts += ["--cert", str(Path(exchange.certificate[0]).absolute()),
                      "--key", str(Path(exchange.certificate[1]).absolute())]
        elif exchange.certificate and target.client_cert:
            parts += ["--cert", str(Path(target.client_cert).absolute()),
                      "--key", str(Path(target.client_key or target.client_cert).absolute())]
        for name, value in exchange.request_headers.items():
            parts += ["-H", f"{name}: {self.privacy.text(value)}"]
        if exchange.body_shell is not None:
            return f"{exchange.body_shell} | {shell_line([*parts, '--data-binary', '@-', exchange.url])}"
        if not exchange.request_body:
            return shell_line([*parts, exchange.url])
        data, body = masked_body(exchange.request_body, self.privacy)
        path = self.requests.write(exchange.exchange_id or f"request-{id(exchange):x}", data)
        options = rebuild_options(body, self._patient_id_of(body), now_kst(), target.scenario)
        if options is None:
            return shell_line([*parts, "--data-binary", f"@{path}", exchange.url])
        rebuild = shell_line(["s24kit", "report", "body", str(path), *options])
        return f"{rebuild} | {shell_line([*parts, '--data-binary', '@-', exchange.url])}"

    def _patient_id_of(self, body: Any) -> str | None:
        """The scenario id of the patient a request body asks for (``s24kit-unknown`` for the made-up one)."""
        query = body.get("patient") if isinstance(body, dict) else None
        if not isinstance(query, dict):
            return None
        if query == STRANGER:
            return STRANGER_ID
        patient = self.scenario.patients.get(query.get("identity_token"))  # type: ignore[arg-type]
        return patient["patient_id"] if patient is not None else None

    @functools.cached_property
    def privacy(self) -> Scrubber:
        """The scenario's people (patients, and the persons its documents name), to scrub from evidence."""
        scrubber = Scrubber()
        for patient in self.scenario.patients.values():
            scrubber.add_all(person_values(patient))
        for documents in self.scenario.documents.values():
            for document in documents:
                # kit-v1 documents name persons only in their top-level objects (patient, provider, prescriber):
                # the arrays of lines, most of a document, cannot hold one and are not walked.
                for key, member in document.items():
                    if isinstance(member, dict):
                        scrubber.collect_json(member, key)
        scrubber.add_all(person_values(STRANGER))
        return scrubber

    def masked_evidence(self, value: Any, pointer: str | None = None) -> Any:
        """An evidence value masked by meaning: by the field ``pointer`` names, then every person scrubbed."""
        parts = [p.replace("~1", "/").replace("~0", "~") for p in (pointer or "").strip("/").split("/") if p]
        key = parts[-1] if parts else None
        parent = parts[-2] if len(parts) > 1 else None
        if key is not None and key.isdigit():  # an array item sits under the array's key
            key, parent = parent, None
        if isinstance(value, str) and key is not None and (kind := personal_fields().kind(parent, key)):
            value = mask_as(kind, value)
        return self.privacy.json(value, key)

    def close(self) -> None:
        """Close the connections (the journal stays readable for the evidence bundle)."""
        self.client.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- request bodies -----------------------------------------------------------------------------------

    def consent(self, scope: Iterable[str] = ALL_TYPES, *, days_ago: int = 0) -> dict[str, Any]:
        """A consent valid now (real clock, KST) — or one that lapsed ``days_ago`` days ago."""
        scope = tuple(scope)
        now = now_kst()
        if days_ago:
            granted, expires = now - dt.timedelta(days=days_ago + 7), now - dt.timedelta(days=days_ago)
        else:
            granted, expires = now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
        return {"consent_id": f"C-s24kit-{_letters(12)}", "granted_at": granted.isoformat(),
                "expires_at": expires.isoformat(), "scope": list(scope)}

    def period(self) -> dict[str, str]:
        """A period covering every visit of the scenario's provider."""
        return dict(self._period)

    def search_body(self, patient: dict[str, Any], *, consent: dict[str, Any] | None = None,
                    period: dict[str, str] | None = None) -> dict[str, Any]:
        return {"patient": patient, "period": dict(period or self._period), "consent": consent or self.consent()}

    def fetch_body(self, patient: dict[str, Any], visit_ids: list[str], *, types: Iterable[str] = ALL_TYPES,
                   consent: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"patient": patient, "visit_ids": list(visit_ids), "document_types": list(types),
                "consent": consent or self.consent()}

    # -- ground truth -------------------------------------------------------------------------------------

    def patients(self) -> list[dict[str, Any]]:
        """The scenario's patients as patient queries (name, birth date, identity token), in a stable order."""
        return [{"name": p["name"], "birth_date": p["birth_date"], "identity_token": token}
                for token, p in sorted(self.scenario.patients.items(), key=lambda kv: kv[1]["patient_id"])]

    def patient_id(self, query: dict[str, Any]) -> str:
        return self.scenario.patients[query["identity_token"]]["patient_id"]

    def expected_visits(self, patient_id: str, period: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
        """visit_id → index entry of the visits a search over ``period`` (default :meth:`period`) must return.

        A visit belongs to a period when their days overlap (both ends inclusive, common.schema.json period).
        """
        visits = self._visits_of.get(patient_id, {})
        if period is None:
            return dict(visits)
        return {v: e for v, e in visits.items()
                if e["start_date"] <= period["end"] and e["end_date"] >= period["start"]}

    def expected_documents(self, visit_ids: Iterable[str], types: Iterable[str] = ALL_TYPES
                           ) -> dict[tuple[str, str], dict[str, Any]]:
        """(visit_id, document_type) → the document the EMR holds, for the requested visits and types."""
        wanted = set(types)
        return {(v, doc["document_type"]): doc for v in visit_ids for doc in self.scenario.documents.get(v, ())
                if doc["document_type"] in wanted}

    def sample(self) -> tuple[dict[str, Any], list[str]]:
        """The first patient with visits, and their visit ids (used by the error and idempotency checks)."""
        for query in self.patients():
            if visits := list(self.expected_visits(self.patient_id(query))):
                return query, visits
        raise ValueError(f"{self.target.scenario}: no patient with visits")  # Scenario.load prevents this

    # -- computed once, judged by many checks -------------------------------------------------------------

    def once(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``key`` is asked for, the cached value afterwards."""
        with self._once_lock:
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]

    def health(self) -> Exchange:
        """The health exchange made when the session opened."""
        return self._cache["health"]

    def narrow_question(self) -> tuple[dict[str, Any], dict[str, str] | None, list[str]] | None:
        """A patient, a narrow period and a strict subset of their visits: the questions only a connector that
        reads ``period`` and ``visit_ids`` answers right (None when no patient has two visits).

        The patient has the most visits among those that allow such a period: one visit's days, chosen so
        that each other visit of theirs lies wholly inside or wholly outside it, at least one outside (whether
        a connector filters by overlap or by start date, the right answer is then the same). The period is
        None when no patient's visits allow one. The subset is every other visit of the patient.
        """
        def compute() -> tuple[dict[str, Any], dict[str, str] | None, list[str]] | None:
            ranked = [(q, sorted(visits.values(), key=lambda v: (v["start_date"], v["visit_id"])))
                      for q in self.patients() if len(visits := self.expected_visits(self.patient_id(q))) >= 2]
            ranked.sort(key=lambda item: -len(item[1]))
            for query, ordered in ranked:
                if (period := _separating_period(ordered)) is not None:
                    return query, period, [v["visit_id"] for v in ordered[::2]]
            return (ranked[0][0], None, [v["visit_id"] for v in ranked[0][1][::2]]) if ranked else None
        return self.once("narrow_question", compute)

    def searches(self) -> list[tuple[str, dict[str, dict[str, Any]], Exchange]]:
        """(patient_id, the visits it must list, exchange) of every search: each patient over :meth:`period`,
        then one patient over a narrow period (:meth:`narrow_question`)."""
        def compute() -> list[tuple[str, dict[str, dict[str, Any]], Exchange]]:
            out = [(pid, self.expected_visits(pid), ex) for pid, ex in self.searched().items()]
            narrow = self.narrow_question()
            if narrow is not None and (period := narrow[1]) is not None:
                query, pid = narrow[0], self.patient_id(narrow[0])
                out.append((pid, self.expected_visits(pid, period),
                            self.ask(SEARCH, self.search_body(query, period=period))))
            return out
        return self.once("searches", compute)

    def searched(self) -> dict[str, Exchange]:
        """patient_id → the search exchange of every scenario patient over :meth:`period`."""
        def compute() -> dict[str, Exchange]:
            queries = self.patients()
            found = _parallel(lambda q: self.ask(SEARCH, self.search_body(q)), queries, self.workers)
            return {self.patient_id(q): ex for q, ex in zip(queries, found, strict=True)}
        return self.once("searched", compute)

    def fetched(self) -> dict[str, Exchange]:
        """visit_id → the fetch exchange that asked for all its documents (one fetch per patient and chunk)."""
        def compute() -> dict[str, Exchange]:
            jobs = [(q, visits[i:i + FETCH_CHUNK]) for q in self.patients()
                    if (visits := list(self.expected_visits(self.patient_id(q))))
                    for i in range(0, len(visits), FETCH_CHUNK)]
            done = _parallel(lambda job: self.ask(FETCH, self.fetch_body(*job)), jobs, self.workers)
            return {v: ex for (_, visits), ex in zip(jobs, done, strict=True) for v in visits}
        return self.once("fetched", compute)

    def fetch_requests(self) -> list[tuple[dict[str, Any], Exchange]]:
        """Each distinct fetch of :meth:`fetched` with the request body it sent, then the fetch of a strict
        subset of one patient's visits (:meth:`narrow_question`)."""
        def compute() -> list[tuple[dict[str, Any], Exchange]]:
            seen: dict[int, Exchange] = {}
            for ex in self.fetched().values():
                seen.setdefault(id(ex), ex)
            exchanges = list(seen.values())
            if (narrow := self.narrow_question()) is not None:
                query, _, subset = narrow
                exchanges.append(self.ask(FETCH, self.fetch_body(query, subset)))
            return [(json.loads(ex.request_body), ex) for ex in exchanges]
        return self.once("fetch_requests", compute)

    def provoked(self) -> dict[str, Exchange]:
        """Requests a conformant provider must refuse, by case name, each sent once."""
        return self.once("provoked", self._provoke)

    def _provoke(self) -> dict[str, Exchange]:
        query, visits = self.sample()
        stranger = STRANGER
        own = set(visits)
        other = next((v for v in sorted(self.scenario.visits) if v not in own), None)
        fetch_path = BASE + FETCH
        json_header = {"content-type": "application/json"}
        cases: dict[str, Callable[[], Exchange]] = {
            "unknown_patient_search": lambda: self.ask(SEARCH, self.search_body(stranger)),
            "unknown_patient_fetch": lambda: self.ask(FETCH, self.fetch_body(stranger, visits[:1])),
            "unknown_visit": lambda: self.ask(FETCH, self.fetch_body(query, [NO_SUCH_VISIT])),
            "expired_consent_search": lambda: self.ask(SEARCH, self.search_body(
                query, consent=self.consent(days_ago=30))),
            "expired_consent_fetch": lambda: self.ask(FETCH, self.fetch_body(
                query, visits[:1], consent=self.consent(days_ago=30))),
            "consent_scope": lambda: self.ask(FETCH, self.fetch_body(
                query, visits[:1], consent=self.consent(scope=["prescription"]))),
            "invalid_json": lambda: self.raw("POST", fetch_path, content=b'{"request_id": "s24kit-',
                                             headers=json_header),
            "wrong_content_type": lambda: self._wrong_content_type(query, visits),
            "oversized": self._oversized,
            "invalid_request": lambda: self.ask(FETCH, {"patient": query}),
            "invalid_request_date": lambda: self.ask(SEARCH, {**self.search_body(query),
                                                              "period": {"start": "2026-13-45", "end": "x"}}),
            # a relay's request sent to a wrong address must not look answered (an agent gets neither)
            "unknown_path": lambda: self.raw("POST", BASE + "documents:fetch-all", content=json.dumps(
                {"request_id": new_request_id(), **self.fetch_body(query, visits[:1])}, ensure_ascii=False).encode(),
                headers=json_header),
            "unknown_path_get": lambda: self.raw("GET", BASE + "visits"),
            "wrong_method": lambda: self.raw("GET", fetch_path),
            "wrong_method_delete": lambda: self.raw("DELETE", BASE + SEARCH),
        }
        if other is not None:
            cases["other_patients_visit"] = lambda: self.ask(FETCH, self.fetch_body(query, [other]))
        return {name: send() for name, send in cases.items()}

    def _wrong_content_type(self, query: dict[str, Any], visits: list[str]) -> Exchange:
        body = {"request_id": new_request_id(), **self.fetch_body(query, visits[:1])}
        return self.raw("POST", BASE + FETCH, content=json.dumps(body, ensure_ascii=False).encode(),
                        headers={"content-type": "text/plain"}, request_id=body["request_id"])

    def _oversized(self) -> Exchange:
        request_id = new_request_id()
        head, tail = f'{{"request_id":"{request_id}","pad":"'.encode(), b'"}'
        content = head + b"y" * (OVERSIZED_BYTES - len(head) - len(tail)) + tail
        shell = (f"{{ printf %s {shlex.quote(head.decode())}; head -c {OVERSIZED_BYTES - len(head) - len(tail)} "
                 f"/dev/zero | tr '\\0' y; printf %s {shlex.quote(tail.decode())}; }}")
        return self.raw("POST", BASE + FETCH, content=content, headers={"content-type": "application/json"},
                        request_id=request_id, body_shell=shell)

    def sent(self) -> list[Exchange]:
        """Every exchange so far, after gathering the shared ones (searches, fetches, provoked errors)."""
        self.searches(), self.fetch_requests(), self.provoked()
        with self._lock:
            return list(self.exchanges)

    def responses(self) -> list[Exchange]:
        """The exchanges of :meth:`sent` that got an answer."""
        return [ex for ex in self.sent() if ex.status is not None]

    # -- outcomes (the checks package imports this module, so registry is imported where used) ------------

    def evidence(self, exchange: Exchange | None, message: str = "", **fields: Any):
        """Evidence naming the journal exchange and a curl line that repeats it."""
        from .checks.registry import Evidence

        # Reports travel further than the journal: no person goes into one, nor a resident number a target leaked.
        pointer = fields.get("pointer")
        message = self.privacy.text(message)
        fields = {k: self.masked_evidence(v, pointer if k in ("expected", "actual") else None)
                  for k, v in fields.items()}
        if exchange is None:
            return Evidence(message, **fields)
        return Evidence(message, exchange=exchange.exchange_id, reproduction=self.curl(exchange), **fields)

    def verdict(self, problems: list[Any], judged: int, what: str, repeats: int = 0, capped: bool = False):
        """Fail with the first problems as evidence, skip when nothing was judged, else pass with a count.

        ``repeats``: findings left out of ``problems`` because they repeat one about the same document in the
        answer to a request asked again (:mod:`.checks.repeats`); said, so the count is not a mystery.
        ``capped``: some answer had more findings than were taken (``MAX_PER_ANSWER``): the count is a floor.
        """
        from .checks.registry import failed, passed, skipped

        if problems:
            notes_ko, notes_en = [], []
            if capped:
                notes_ko.append(f"응답마다 처음 {MAX_PER_ANSWER}건만 셈")
                notes_en.append(f"at most {MAX_PER_ANSWER} counted per answer")
            if len(problems) > MAX_EVIDENCE:
                notes_ko.append(f"처음 {MAX_EVIDENCE}건 기록")
                notes_en.append(f"the first {MAX_EVIDENCE} listed")
            if repeats:
                notes_ko.append(f"같은 서류를 다시 요청한 응답에서 반복된 {repeats}건은 세지 않음")
                notes_en.append(f"{repeats} more repeat these in answers to requests for the same documents, "
                                f"not counted")
            ko = f" ({'; '.join(notes_ko)})" if notes_ko else ""
            en = f" ({'; '.join(notes_en)})" if notes_en else ""
            floor_ko, floor_en = ("최소 ", "at least ") if capped else ("", "")
            return failed(f"{floor_ko}{len(problems)}건 위반{ko} / "
                          f"{floor_en}{len(problems)} violation(s) in {what}{en}",
                          *problems[:MAX_EVIDENCE], found=len(problems))
        if not judged:
            return skipped(f"판정할 응답이 없습니다 / no {what} to judge")
        return passed(f"{judged}건 확인 / {judged} {what} checked")


def _separating_period(visits: list[dict[str, Any]]) -> dict[str, str] | None:
    """The days of one of ``visits`` such that each other lies wholly inside or outside them, one at least outside."""
    for candidate in visits:
        start, end = candidate["start_date"], candidate["end_date"]
        inside = sum(start <= v["start_date"] and v["end_date"] <= end for v in visits)
        outside = sum(v["end_date"] < start or v["start_date"] > end for v in visits)
        if outside and inside + outside == len(visits):
            return {"start": start, "end": end}
    return None


def masked(value: Any) -> Any:
    """``value`` with every full resident number masked after its gender digit (YYMMDD-G******), the form
    documents carry: for comparing a value with the scenario's (reports use :func:`without_persons`)."""
    if isinstance(value, str):
        return FULL_RRN.sub(lambda m: f"{m.group()[:6]}-{m.group().replace('-', '')[6]}******", value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def without_persons(value: Any) -> Any:
    """``value`` masked by meaning for a report (:func:`~s24kit.simulator.masking.mask_json`): personal fields,
    their values wherever else they appear, resident numbers (month and day too: they are a birth date)."""
    return mask_json(value)


def strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """``(pointer, text)`` of every string in a JSON value, object keys included."""
    if isinstance(value, str):
        yield pointer or "/", value
    elif isinstance(value, dict):
        for key, sub in value.items():
            path = f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"
            yield path, str(key)
            yield from strings(sub, path)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from strings(sub, f"{pointer}/{i}")


def all_strings(value: Any, out: list[str] | None = None) -> list[str]:
    """Every string of a JSON value, object keys included, without pointers (the fast twin of :func:`strings`)."""
    out = [] if out is None else out
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, sub in value.items():
            out.append(str(key))
            all_strings(sub, out)
    elif isinstance(value, list):
        for sub in value:
            all_strings(sub, out)
    return out


def _parallel(func: Callable[[Any], T], items: list[Any], workers: int = WORKERS) -> list[T]:
    """``[func(item) for item in items]`` on up to ``workers`` threads, in order."""
    if len(items) <= 1 or workers <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="s24kit-session") as pool:
        return list(pool.map(func, items))


class _Remembering:
    """The journal as the session's transports see it: remembers, per thread, the id it recorded last.

    The journal transport records transport errors too but can only hand the id over on a response; the
    thread that sent a request is the one that records it, so a thread-local gives the id of a failure.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal, self.local = journal, threading.local()

    def record(self, **fields: Any) -> str:
        self.local.last = self.journal.record(**fields)
        return self.local.last

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)
