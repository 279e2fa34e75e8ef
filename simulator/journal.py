"""The journal: every exchange between the parties, personal data masked before storage, bounded, searchable.

One SQLite database (WAL when on disk) holds one row per exchange. Masking happens in :meth:`Journal.record`,
so nothing unmasked ever reaches the database, the admin API or the evidence bundle. Three ways in:

- :meth:`Journal.record` — direct;
- :class:`JournalTransport` / :class:`AsyncJournalTransport` — wrap an httpx transport (outgoing calls);
  ``response.extensions["s24_exchange"]`` carries the exchange id. A request may name its templated route
  and its callee with ``extensions={"s24_route": "/s24/v1/documents:fetch", "s24_party": "provider:99350012"}``:
  a transport made with party ``"relay"`` (or ``"relay→?"``) then records ``"relay→provider:99350012"``;
- :class:`JournalMiddleware` — wrap an ASGI app (incoming calls).

:func:`journal_routes` gives the ``/__admin/journal`` routes (see :mod:`.admin`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import ssl
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .admin import AdminRoute
from .journal_store import JournalStore
from .masking import Scrubber, mask_name, mask_rrn, mask_texts
from .problems import problem

COLUMNS = ("seq, started_at, party, method, url, route, status, duration_ms, peer, tls_peer, error, "
           "request_headers, request_body, response_headers, response_body")
ID_PREFIX = "x-"
#: Where an app's last-resort handler leaves the exception it turned into a 500 (simulator/last_resort.py),
#: for :class:`JournalMiddleware` to record.
ERROR_KEY = "s24_error"
# Bodies are masked over a little more than body_limit so that a resident number or a name cut by the
# limit is still recognised whole, then cut to the limit.
MASK_MARGIN = 256

# -- masking (by meaning: see simulator/masking.py) ----------------------------------------------------------

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: ``json.dumps(value, ensure_ascii=False)`` without building an encoder for every call (a third of its cost for a
#: few headers).
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def mask_text(text: str) -> str:
    """Mask one text on its own: personal members found by meaning (and their values wherever else they occur
    in it), resident numbers anywhere."""
    return mask_texts(text)[0] or text


def mask_headers(headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None,
                 scrubber: Scrubber | None = None) -> dict[str, str]:
    """Headers as a dict (repeated names joined by ", "), secrets replaced by ``***``, personal values scrubbed."""
    if headers is None:
        return {}
    # the usual types before the Mapping ABC, whose check costs more than masking a short header
    if isinstance(headers, httpx.Headers):
        pairs: Iterable[tuple[Any, Any]] = headers.multi_items()
    elif headers.__class__ is dict or (not isinstance(headers, list | tuple) and isinstance(headers, Mapping)):
        pairs = headers.items()  # type: ignore[union-attr]
    else:
        pairs = headers  # type: ignore[assignment]
    out: dict[str, str] = {}
    scrub = scrubber.text if scrubber else None  # decided once, not once a header
    for key, value in pairs:
        name = (key if key.__class__ is str else key.decode("latin-1") if isinstance(key, bytes) else str(key)).lower()
        text = value if value.__class__ is str else value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name in SECRET_HEADERS:
            text = "***"
        elif scrub is not None:
            text = scrub(text)
        elif len(text) >= 13:  # shorter values cannot hold a resident number
            text = mask_rrn(text)
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


class Clipped(bytes):
    """A body prefix kept for the journal, remembering the full size (used by the middleware)."""

    total: int

    def __new__(cls, prefix: bytes, total: int) -> Clipped:
        obj = super().__new__(cls, prefix)
        obj.total = total
        return obj


def _body_text(body: bytes | str | None, limit: int) -> tuple[str | None, int]:
    """The text to mask for a body (a window a little over ``limit``, UTF-8 decoded) and the body's full size.

    A body that is not UTF-8 gives its ``[binary body …]`` marker, which holds nothing to mask.
    """
    if body is None:
        return None, 0
    if isinstance(body, str):
        total = len(body) if len(body) * 4 <= limit else len(body.encode("utf-8"))
        if total <= limit:
            return body, total
        body = body.encode("utf-8")
    else:
        total = body.total if isinstance(body, Clipped) else len(body)
    window = bytes(body[:limit + MASK_MARGIN])
    try:
        return window.decode("utf-8"), total
    except UnicodeDecodeError as exc:
        if exc.start < len(window) - 4:  # not just a character cut by the window
            return f"[binary body: {total} bytes, not UTF-8]", total
        return window.decode("utf-8", "ignore"), total


def _cut(text: str, total: int, limit: int) -> str:
    """A masked body cut to ``limit`` bytes with a marker when the body was longer."""
    if total > limit and not text.startswith("[binary body: "):
        kept = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
        return f"{kept}…[truncated: {total} bytes, first {limit} kept]"
    return text


def _elided(body: bytes | str | None, exc: BaseException) -> str:
    size = len(body) if isinstance(body, bytes | bytearray) else len(str(body).encode("utf-8", "replace"))
    if isinstance(body, Clipped):
        size = body.total
    return f"[body elided: {size} bytes the masker could not read ({type(exc).__name__})]"


def _masked_bodies(bodies: tuple[bytes | str | None, ...], limit: int, scrubber: Scrubber) -> list[str | None]:
    """The stored text of each body of one exchange (UTF-8 decoded, cut at ``limit`` bytes with a marker),
    masked together: a value found in one is scrubbed from all. A body the masker cannot read is elided with
    a note in its place: never stored unmasked."""
    unread: dict[int, BaseException] = {}
    texts: list[tuple[str | None, int]] = []
    for i, body in enumerate(bodies):
        text, total = None, 0
        try:
            text, total = _body_text(body, limit)
            scrubber.collect_text(text)
        except Exception as exc:  # too deep, a lone surrogate, …: its personal values are unknown
            unread[i] = exc
        texts.append((text, total))
    out: list[str | None] = []
    for i, body in enumerate(bodies):
        text, total = texts[i]
        try:
            out.append(_elided(body, unread[i]) if i in unread else
                       None if text is None else _cut(scrubber.text(text), total, limit))
        except Exception as exc:
            out.append(_elided(body, exc))
    return out


def _encodable(value: Any) -> Any:
    """Text with lone surrogates written as ``\\udXXX`` escapes (what SQLite and UTF-8 accept)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


@functools.lru_cache(maxsize=256)
def certificate_facts(der: bytes) -> dict[str, str]:
    """Subject, issuer, SHA-256 fingerprint and expiry of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex(),
            "not_after": cert.not_valid_after_utc.isoformat()}


def tls_peer_of(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """What the journal records about a TLS connection's peer (None without TLS)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(True)  # positional: httpcore may hand over the C-level _SSLSocket
    facts: dict[str, Any] = dict(certificate_facts(der)) if der else {}
    facts["tls_version"] = ssl_object.version()
    facts["cipher"] = (ssl_object.cipher() or (None,))[0]
    return facts


# -- the journal --------------------------------------------------------------------------------------------


def _instant(value: dt.datetime | str | None) -> tuple[float, str]:
    """(epoch seconds, ISO text) of an aware datetime or ISO string; now when None."""
    if value is None:
        value = dt.datetime.now(dt.UTC)
    elif isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("started_at/since must carry a time zone / 시간대가 있어야 합니다")
    return value.timestamp(), value.isoformat()


def exchange_id(seq: int, prefix: str = ID_PREFIX) -> str:
    return f"{prefix}{seq:06d}"


def seq_of(exchange: str, prefix: str = ID_PREFIX) -> int | None:
    """The number of exchange id ``exchange`` in a journal whose ids start with ``prefix`` (None: not one)."""
    number = exchange[len(prefix):]
    if not exchange.startswith(prefix) or not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    return int(number)


def search_filter(*, party: str | None = None, route: str | None = None, method: str | None = None,
                  status: int | None = None, text: str | None = None,
                  since: dt.datetime | str | None = None) -> tuple[list[str], list[Any]]:
    """The SQL conditions (and their arguments) of :meth:`Journal.search`'s filters."""
    where: list[str] = []
    args: list[Any] = []
    if party is not None:
        op = "GLOB" if any(c in party for c in "*?[") else "="
        where.append(f"(party {op} ? OR substr(party, instr(party, '→') + 1) {op} ? "
                     f"OR (instr(party, '→') > 0 AND substr(party, 1, instr(party, '→') - 1) {op} ?))")
        args += [party, party, party]
    if route is not None:
        where.append("route GLOB ?" if any(c in route for c in "*?[") else "route = ?")
        args.append(route)
    if method is not None:
        where.append("method = ?")
        args.append(method.upper())
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if text:
        where.append("(instr(request_body, ?) > 0 OR instr(response_body, ?) > 0)")
        args += [text, text]
    if since is not None:
        where.append("ts >= ?")
        args.append(_instant(since)[0])
    return where, args


class Journal:
    """Thread-safe journal of exchanges, kept in a :class:`~.journal_store.JournalStore` (SQLite, WAL on disk,
    written in batches: see that module for what a crash may lose).

    Bounds: never more than ``max_entries`` entries or ``max_bytes`` of stored text once committed; past
    either, the oldest go, down to a little under both (the newest entry always stays). Ids keep increasing
    across trimming, :meth:`clear` and reopening the same file.

    When several processes journal one stack (``serve --processes``), each writes its own file: ``recorded_by``
    names the writer in its entries and ``id_prefix`` keeps its ids apart from the others' (``x-relay-2-000042``).
    """

    def __init__(self, path: Path | str = ":memory:", *, max_entries: int = 10_000, max_bytes: int = 64 * 2**20,
                 body_limit: int = 64 * 1024, recorded_by: str | None = None, id_prefix: str = ID_PREFIX) -> None:
        if max_entries < 1 or max_bytes < 1 or body_limit < 0:
            raise ValueError("max_entries and max_bytes must be positive, body_limit not negative")
        self.max_entries, self.max_bytes, self.body_limit = max_entries, max_bytes, body_limit
        self.recorded_by, self.id_prefix = recorded_by, id_prefix
        self.path = str(path)
        self._store = JournalStore(self.path, max_entries=max_entries, max_bytes=max_bytes)
        self._db = self._store.db  # for tests and drills that read the file's settings

    def flush(self) -> None:
        """Commit every entry recorded so far (reads do it themselves)."""
        self._store.commit()

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------------

    def record(self, *, party: str, method: str, url: str, route: str | None = None,
               request_headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None = None,
               request_body: bytes | str | None = None, status: int | None = None,
               response_headers: Mapping[str, str] | Iterable[tuple[Any, Any]] | None = None,
               response_body: bytes | str | None = None, started_at: dt.datetime | str | None = None,
               duration_ms: float | None = None, tls_peer: dict[str, Any] | None = None,
               error: str | None = None, peer: str | None = None) -> str:
        """Mask and store one exchange; return its id (``x-000042``)."""
        ts, started = _instant(started_at)
        limit = self.body_limit
        route = route or urllib.parse.urlsplit(url).path
        # One exchange is masked as a whole: a name found in the request's patient is scrubbed from the
        # answer's problem detail, the URL, the headers and the error message too.
        scrubber = Scrubber()
        request_stored, response_stored = _masked_bodies((request_body, response_body), limit, scrubber)
        row = [ts, started, party, method.upper(), scrubber.text(url), route, status, duration_ms, peer,
               _to_json(tls_peer) if tls_peer else None,
               scrubber.text(error) if error else None,
               _to_json(mask_headers(request_headers, scrubber)), request_stored,
               _to_json(mask_headers(response_headers, scrubber)), response_stored]
        stored = "".join([v for v in row if isinstance(v, str)])
        try:
            size = len(stored) if stored.isascii() else len(stored.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate (from a \ud800 escape) that neither UTF-8 nor SQLite takes
            row = [_encodable(v) for v in row]
            size = sum(len(v.encode("utf-8")) for v in row if isinstance(v, str))
        return exchange_id(self._store.append(row, size), self.id_prefix)

    def clear(self) -> int:
        """Forget every entry (ids still continue upwards); return how many were deleted."""
        return self._store.clear()

    # -- reading ---------------------------------------------------------------------------------------------

    def count(self) -> int:
        return self._store.count()

    @property
    def stored_bytes(self) -> int:
        return self._store.stored_bytes()

    def get(self, exchange: str) -> dict[str, Any] | None:
        seq = seq_of(exchange, self.id_prefix)
        if seq is None:
            return None
        rows = self._store.read(f"SELECT {COLUMNS} FROM exchanges WHERE seq = ?", (seq,))
        return self.entry(rows[0]) if rows else None

    def entry(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """The entry of a row of :data:`COLUMNS` read from this journal's file."""
        return entry_of(row, self.id_prefix, self.recorded_by)

    def cleared_before(self) -> float:
        """When :meth:`clear` was last called (epoch seconds of the journal's order; 0 if never)."""
        return self._store.cleared_before()

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query on this journal's file, every entry recorded so far committed first (for
        :class:`~.journal_view.MergedJournal`)."""
        return self._store.read(sql, args)

    def search(self, *, party: str | None = None, route: str | None = None, method: str | None = None,
               status: int | None = None, text: str | None = None, since: dt.datetime | str | None = None,
               limit: int = 100, offset: int = 0, before: str | None = None) -> list[dict[str, Any]]:
        """Entries newest first. ``party`` and ``route`` are exact, or globs when they contain ``*?[``; a party
        "caller→callee" is found by the whole name or by either side (``party="provider:*"`` finds
        ``relay→provider:99350012``). ``text`` is a substring of either masked body; ``since`` an aware
        datetime or ISO string. ``before`` (an exchange id, the last of the page before) keeps only the entries
        after it in that order, so pages do not shift while exchanges are recorded (:class:`ValueError` when it
        is not an id of this journal, :class:`LookupError` when that exchange is not in it: never recorded,
        trimmed or cleared)."""
        where, args = search_filter(party=party, route=route, method=method, status=status, text=text, since=since)
        if before is not None:
            seq = seq_of(before, self.id_prefix)
            if seq is None:
                raise ValueError(f"not an exchange id of this journal: {before[:40]!r}")
            if not self._store.read("SELECT 1 FROM exchanges WHERE seq = ?", (seq,)):
                raise LookupError(before)
            where.append("seq < ?")
            args.append(seq)
        sql = f"SELECT {COLUMNS} FROM exchanges"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
        rows = self._store.read(sql, (*args, max(limit, 0), max(offset, 0)))
        return [self.entry(r) for r in rows]

    def export_jsonl(self, path: Path | str, *, batch: int = 500) -> int:
        """Write every entry (masked, oldest first) as JSON Lines; return how many."""
        written, after = 0, 0
        with open(path, "w", encoding="utf-8") as out:
            while True:
                rows = self._store.read(f"SELECT {COLUMNS} FROM exchanges WHERE seq > ? ORDER BY seq LIMIT ?",
                                        (after, batch))
                if not rows:
                    return written
                for row in rows:
                    out.write(json.dumps(self.entry(row), ensure_ascii=False) + "\n")
                written += len(rows)
                after = rows[-1][0]


def entry_of(row: tuple[Any, ...], prefix: str = ID_PREFIX, recorded_by: str | None = None) -> dict[str, Any]:
    """The entry of a row of :data:`COLUMNS`: its id with ``prefix``, and ``recorded_by`` when the journal names
    its writer."""
    (seq, started_at, party, method, url, route, status, duration_ms, peer, tls_peer, error,
     request_headers, request_body, response_headers, response_body) = row
    return {"id": exchange_id(seq, prefix), **({"recorded_by": recorded_by} if recorded_by else {}), "party": party,
            "method": method, "url": url, "route": route, "status": status,
            "started_at": started_at, "duration_ms": duration_ms, "peer": peer,
            "tls_peer": json.loads(tls_peer) if tls_peer else None, "error": error,
            "request": {"headers": json.loads(request_headers), "body": request_body},
            "response": {"headers": json.loads(response_headers), "body": response_body}}


# -- httpx transports (outgoing calls) -------------------------------------------------------------------------


def _response_tls(response: httpx.Response) -> dict[str, Any] | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        return tls_peer_of(stream.get_extra_info("ssl_object"))
    except (ValueError, OSError, AttributeError):  # the connection went away, or an unusual stream
        return None


def _decoded(headers: httpx.Headers, raw: bytes) -> bytes:
    """The body as the client will see it (gzip etc. undone) for the journal; raw when undecodable."""
    if not raw or "content-encoding" not in headers:
        return raw
    try:
        return httpx.Response(200, headers={"content-encoding": headers["content-encoding"]}, content=raw).read()
    except httpx.DecodingError:
        return raw


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class _Recorder:
    """What both transports share: naming the party and route, and writing the entry."""

    def __init__(self, journal: Journal, party: str) -> None:
        self.journal, self.party = journal, party

    def party_of(self, request: httpx.Request) -> str:
        """``relay→provider:99350012``: the caller from the configured party, the callee from the request."""
        callee = request.extensions.get("s24_party")
        if callee is None:
            return self.party
        return f"{self.party.split('→', 1)[0]}→{callee}"

    def write(self, request: httpx.Request, started_at: dt.datetime, started: float, *,
              response: httpx.Response | None = None, body: bytes | None = None,
              tls: dict[str, Any] | None = None, error: BaseException | None = None) -> str:
        """Record the exchange; ``body`` is the response body as the client sees it (see :func:`_decoded`)."""
        return self.journal.record(
            party=self.party_of(request), method=request.method, url=str(request.url),
            route=request.extensions.get("s24_route"), request_headers=request.headers,
            request_body=request.content, status=response.status_code if response is not None else None,
            response_headers=response.headers if response is not None else None,
            response_body=body if response is not None else None,
            started_at=started_at, duration_ms=(time.perf_counter() - started) * 1000, tls_peer=tls,
            error=_error_text(error) if error is not None else None)

    @staticmethod
    def rebuilt(response: httpx.Response, raw: bytes, request: httpx.Request, exchange: str) -> httpx.Response:
        """A fresh response around the body already read, carrying the exchange id."""
        return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw),
                              extensions={**response.extensions, "s24_exchange": exchange}, request=request)


class JournalTransport(httpx.BaseTransport):
    """Record every exchange made through ``inner`` (errors too, re-raised)."""

    def __init__(self, inner: httpx.BaseTransport, journal: Journal, party: str) -> None:
        self.inner, self._recorder = inner, _Recorder(journal, party)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response, raw, _, exchange = self.exchange(request)
        return self._recorder.rebuilt(response, raw, request, exchange)

    def exchange(self, request: httpx.Request) -> tuple[httpx.Response, bytes, bytes, str]:
        """Send ``request``, read the whole answer and record it, without wrapping it in a new response.

        Returns the (closed) response, its raw body, the body as a client sees it (content encodings undone)
        and the exchange id; raises what the inner transport raises (recorded too). For callers that want the
        bytes only: building a readable response around them costs a tenth of a small exchange.
        """
        started_at, started = dt.datetime.now(dt.UTC), time.perf_counter()
        request.read()
        try:
            response = self.inner.handle_request(request)
        except Exception as exc:
            self._recorder.write(request, started_at, started, error=exc)
            raise
        tls = _response_tls(response)
        try:
            raw = b"".join(response.stream)  # type: ignore[arg-type]
        except Exception as exc:
            self._recorder.write(request, started_at, started, response=response, tls=tls, error=exc)
            raise
        finally:
            response.close()
        body = _decoded(response.headers, raw)
        exchange = self._recorder.write(request, started_at, started, response=response, body=body, tls=tls)
        return response, raw, body, exchange

    def close(self) -> None:
        self.inner.close()


class AsyncJournalTransport(httpx.AsyncBaseTransport):
    """Async twin of :class:`JournalTransport` (works around ``httpx.ASGITransport`` too: no TLS peer then)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, journal: Journal, party: str) -> None:
        self.inner, self._recorder = inner, _Recorder(journal, party)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started_at, started = dt.datetime.now(dt.UTC), time.perf_counter()
        await request.aread()
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as exc:
            self._recorder.write(request, started_at, started, error=exc)
            raise
        tls = _response_tls(response)
        chunks: list[bytes] = []
        try:
            async for chunk in response.stream:  # type: ignore[union-attr]
                chunks.append(chunk)
        except Exception as exc:
            self._recorder.write(request, started_at, started, response=response, tls=tls, error=exc)
            raise
        finally:
            await response.aclose()
        raw = b"".join(chunks)
        exchange = self._recorder.write(request, started_at, started, response=response,
                                        body=_decoded(response.headers, raw), tls=tls)
        return self._recorder.rebuilt(response, raw, request, exchange)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- ASGI middleware (incoming calls) --------------------------------------------------------------------------


def _scope_tls(scope: dict[str, Any]) -> dict[str, Any] | None:
    """TLS facts of an incoming connection (from the ASGI TLS extension that simulator.serving adds)."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls:
        return None
    chain = tls.get("client_cert_chain") or []
    facts: dict[str, Any] = {}
    if chain:
        facts.update(certificate_facts(ssl.PEM_cert_to_DER_cert(chain[0])))
    facts["tls_version"] = tls.get("tls_version")
    facts["cipher"] = tls.get("cipher_suite")
    return facts


def _scope_url(scope: dict[str, Any]) -> str:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
    if host is None and scope.get("server"):
        server_host, port = scope["server"][:2]
        host = f"{server_host}:{port}" if port else server_host
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope.get("root_path", "") + scope.get("path", "/")
    return f"{scope.get('scheme', 'http')}://{host or 'unknown'}{path}" + (f"?{query}" if query else "")


class JournalMiddleware:
    """Pure ASGI middleware recording each HTTP request the app receives and what it answered.

    The app gets the whole body; the journal keeps only the first ``body_limit`` (+ a small margin) bytes.
    The route is the matched Starlette route's template when there is one.
    """

    def __init__(self, app: Any, journal: Journal, party: str) -> None:
        self.app, self.journal, self.party = app, journal, party

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        keep = self.journal.body_limit + MASK_MARGIN
        started_at, started = dt.datetime.now(dt.UTC), time.perf_counter()
        request_body, response_body = bytearray(), bytearray()
        totals = [0, 0]  # request bytes, response bytes
        answer: dict[str, Any] = {}

        async def receive_recorded() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                totals[0] += len(chunk)
                if len(request_body) < keep:
                    request_body.extend(chunk[:keep - len(request_body)])
            return message

        async def send_recorded(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"], answer["headers"] = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                totals[1] += len(chunk)
                if len(response_body) < keep:
                    response_body.extend(chunk[:keep - len(response_body)])
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive_recorded, send_recorded)
        except Exception as exc:
            error = exc
            raise
        finally:
            route = scope.get("route")
            client = scope.get("client")
            handled = scope.get(ERROR_KEY)  # an exception the last-resort middleware turned into a 500
            self.journal.record(
                party=self.party, method=scope.get("method", "GET"), url=_scope_url(scope),
                route=getattr(route, "path", None) or scope.get("path", "/"), request_headers=scope.get("headers"),
                request_body=Clipped(bytes(request_body), totals[0]) if totals[0] else None,
                status=answer.get("status"), response_headers=answer.get("headers"),
                response_body=Clipped(bytes(response_body), totals[1]) if "status" in answer else None,
                started_at=started_at, duration_ms=(time.perf_counter() - started) * 1000,
                tls_peer=_scope_tls(scope), error=_error_text(error) if error else handled,
                peer=f"{client[0]}:{client[1]}" if client else None)


# -- admin routes ------------------------------------------------------------------------------------------------

_PARAMETERS = ("party", "route", "method", "status", "q", "since", "limit", "offset", "before")


def _bad_parameter(name: str, ko: str, en: str) -> Response:
    return problem(400, "invalid_request", "Invalid query parameter",
                   f"쿼리 매개변수 {name}: {ko} / query parameter {name}: {en}")


def _search_arguments(request: Request) -> dict[str, Any] | Response:
    """The query string as :meth:`Journal.search` arguments, or the 400 problem naming the parameter."""
    query = request.query_params
    for name in query:
        if name not in _PARAMETERS:
            return _bad_parameter(name, f"알 수 없는 매개변수입니다 (사용 가능: {', '.join(_PARAMETERS)})",
                                  f"unknown parameter (known: {', '.join(_PARAMETERS)})")
        if len(query.getlist(name)) > 1:  # which one would count is a guess: say so rather than pick
            return _bad_parameter(name, "한 번만 줄 수 있습니다", "may be given only once")
    args: dict[str, Any] = {k: query[k] for k in ("party", "route", "method") if k in query}
    if "q" in query:
        args["text"] = query["q"]
    bounds = {"status": (100, 599), "limit": (1, 1000), "offset": (0, 10**9)}
    for name, (low, high) in bounds.items():
        if name in query:
            value = query[name]
            if not value.isdigit() or not low <= int(value) <= high:
                return _bad_parameter(name, f"{low}~{high} 사이의 정수여야 합니다 (받은 값 {value!r})",
                                      f"must be an integer from {low} to {high} (got {value!r})")
            args[name] = int(value)
    if "since" in query:
        try:
            _instant(query["since"])
        except ValueError:
            return _bad_parameter("since", "시간대가 있는 ISO 8601 시각이어야 합니다 (예: 2026-01-02T03:04:05+09:00)",
                                  "must be an ISO 8601 time with a zone (e.g. 2026-01-02T03:04:05+09:00)")
        args["since"] = query["since"]
    if "before" in query:
        args["before"] = query["before"]
    return args


def journal_routes(journal: Any) -> list[AdminRoute]:
    """``GET /__admin/journal`` (search), ``GET /__admin/journal/{id}``, ``DELETE /__admin/journal`` over a
    :class:`Journal` or a :class:`~.journal_view.MergedJournal` (the files of several writers as one)."""

    async def search(request: Request) -> Response:
        args = _search_arguments(request)
        if isinstance(args, Response):
            return args
        try:
            entries = journal.search(**args)
        except ValueError:
            if "before" not in args:
                raise
            return _bad_parameter("before", "이 저널의 교환 id 여야 합니다 (예: 앞 페이지의 마지막 id)",
                                  "must be an exchange id of this journal (e.g. the last id of the page before)")
        except LookupError:
            return problem(404, "not_found", "Unknown exchange id",
                           "쿼리 매개변수 before: 그 교환이 저널에 없습니다 (기록된 적이 없거나 삭제됨) — "
                           "before 없이 최신부터 다시 읽으십시오 / query parameter before: that exchange is not in "
                           "the journal (never recorded, trimmed or cleared) — read again from the newest, "
                           "without before")
        return JSONResponse({"entries": entries, "returned": len(entries), "stored": journal.count()})

    async def one(request: Request) -> Response:
        entry = journal.get(request.path_params["exchange_id"])
        if entry is None:
            return problem(404, "not_found", "Unknown exchange id",
                           f"교환 {request.path_params['exchange_id']}이(가) 저널에 없습니다 (삭제되었거나 잘못된 id) "
                           f"/ exchange {request.path_params['exchange_id']} is not in the journal "
                           "(trimmed or a wrong id)")
        return JSONResponse(entry)

    async def clear(request: Request) -> Response:
        return JSONResponse({"deleted": journal.clear()})

    return [
        AdminRoute("GET", "/__admin/journal", search,
                   "저널 검색 (?party, route, method, status, q, since, limit, offset, before; 최신순)",
                   "search the journal (?party, route, method, status, q, since, limit, offset, before; newest first)"),
        AdminRoute("GET", "/__admin/journal/{exchange_id}", one, "교환 한 건", "one exchange"),
        AdminRoute("DELETE", "/__admin/journal", clear, "저널 비우기", "empty the journal"),
    ]


__all__ = ["AsyncJournalTransport", "Journal", "JournalMiddleware", "JournalTransport", "journal_routes",
           "mask_headers", "mask_name", "mask_rrn", "mask_text"]
