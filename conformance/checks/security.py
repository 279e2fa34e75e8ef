"""SEC: no personal data or internals where they must not be, and mutual TLS enforced."""

from __future__ import annotations

import json
import re
from typing import Any

from ...schemas.identifiers import FULL_RRN, FULL_RRN_SCAN
from ..language import excerpt
from ..session import FETCH, HEALTH, SEARCH, Exchange, Session, all_strings, strings
from .registry import Evidence, Outcome, check, failed, passed, skipped, warned

#: What betrays internals in an answer: stack frames, exception class names, source file paths, database errors
#: and the SQL behind them, of any platform. Each is precise enough not to fire on a correct document, whose
#: notes may well say "panic", "error" or "select" in plain words.
LEAKS = {
    "Python traceback": re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"),
    "Java/.NET stack frame": re.compile(r"\bat [\w$.<>]+\([\w$.]*(?:\.java|\.kt|\.cs|Unknown Source|Native Method)"
                                        r"[:\d]*\)|\bat [\w.`<>\[\],]+\.[\w<>`]+\([^)]*\) in |:line \d+\b"
                                        r"|--- End of (?:inner exception )?stack trace"),
    "Node.js stack frame": re.compile(r"\bat (?:(?:async |new )?[\w$.<>\[\] ]{1,200} \()?(?:file://|node:|/|[A-Za-z]:\\)"
                                      r"[^()\s]*:\d+:\d+\)?|\bnode:internal/"),
    "Go panic": re.compile(r"\bgoroutine \d+ \[[\w ,]+\]:|\bpanic: runtime error\b|\.go:\d+ \+0x[0-9a-f]+"
                           r"|\bruntime\.gopanic\b"),
    "PHP error": re.compile(r"\b(?:PHP )?(?:Fatal error|Parse error|Warning|Notice|Deprecated): .{1,300}? in \S+ "
                            r"on line \d+|Stack trace:\s*#0\b|\bPHP (?:Fatal|Parse) error\b"),
    "exception class": re.compile(r"\b(?:[a-z]\w*\.)*[A-Z]\w*(?:Exception|Error)\b"),
    "database error": re.compile(r"\b(?:ORA|PLS|TNS)-\d{5}\b|\bSQLSTATE\b|\bsyntax error at or near\b"
                                 r"|\byou have an error in your SQL syntax|\bpsycopg2?\b|\bpymysql\b|\bMySQLdb\b"
                                 r"|\bmysqli\b|\bsqlite3\.|\bjava\.sql\.|\borg\.postgresql\b|\bcom\.mysql\b"
                                 r"|\bSystem\.Data\.SqlClient\b|\bMicrosoft\.Data\.SqlClient\b|\[Microsoft\]\[ODBC"
                                 r"|\bSQL(?:Exception|SyntaxErrorException|IntegrityConstraintViolationException)\b"
                                 r"|\bPDOException\b|\bduplicate key value violates unique constraint\b"
                                 r"|\brelation \"[^\"]+\" does not exist\b", re.IGNORECASE),
    # Keywords in capitals as databases and ORMs print them, or lower-case with what only SQL has (a qualified
    # column, a star, a placeholder): "select one from the list" in a note is not SQL.
    "SQL text": re.compile(r"\bSELECT\s+(?:DISTINCT\s+)?(?:\*|[\w.\"`\[\]]+(?:\s*,\s*[\w.\"`\[\]]+)*)\s+FROM\s+"
                           r"[\w.\"`\[]"
                           r"|\bINSERT\s+INTO\s+[\w.\"`\[]+\s*[(]|\bUPDATE\s+[\w.\"`\[\]]+\s+SET\s+[\w.\"`\[]+\s*="
                           r"|\bDELETE\s+FROM\s+[\w.\"`\[]+(?:\s+WHERE\b|\s*;)"
                           r"|\bselect (?:\*|\w+\.\w+|count\(\*\))[^;]{0,300}?\bfrom\s+[\w.\"`]+"
                           r"|\bwhere [\w.\"`]+\s*=\s*(?:\?|\$\d+|:\w+)"),
    "source file path": re.compile(r"(?<![\w/.:])/(?:usr|home|var|opt|srv|app|root|etc|tmp|workspace)/[\w./-]+"
                                   r"|\b[A-Za-z]:\\[\w\\. -]+|[\w/\\.-]+\.(?:py|java|kt|cs|php|rb|go|js|ts):\d+"),
}
#: Literal strings of which each leak above contains at least one (lower-case for the case-blind patterns):
#: looking for them rules out most answers at a small fraction of a leak pattern's cost.
TRIGGERS = {
    "Python traceback": ("Traceback", ", line "),
    "Java/.NET stack frame": (".java", ".kt", ".cs", "Unknown Source", "Native Method", ") in ", ":line ", "End of"),
    "Node.js stack frame": ("node:", "at /", " (/", "file://", "\\"),
    "Go panic": ("goroutine ", "panic: ", ".go:", "gopanic"),
    "PHP error": (" on line ", "Stack trace:", "PHP "),
    "exception class": ("Exception", "Error"),
    "database error": ("ora-", "pls-", "tns-", "sql", "syntax error", "psycopg", "[odbc", "pdoexception",
                       "duplicate key", "does not exist"),
    "SQL text": ("SELECT", "INSERT", "UPDATE", "DELETE", "select ", "where "),
    "source file path": ("/usr/", "/home/", "/var/", "/opt/", "/srv/", "/app/", "/root/", "/etc/", "/tmp/",
                         "/workspace/", "\\", ".py:", ".java:", ".kt:", ".cs:", ".php:", ".rb:", ".go:", ".js:",
                         ".ts:"),
}


def _first_letter_searches(triggers: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """The triggers as one expression per first character, ``X(?=rest|rest…)``: an expression that starts with
    one plain character is searched for that character first, at a fraction of a substring search's cost per
    trigger (a single expression of every trigger, with no first character in common, is slower)."""
    by_first: dict[str, list[str]] = {}
    for trigger in triggers:
        by_first.setdefault(trigger[0], []).append(re.escape(trigger[1:]))
    return tuple(re.compile(f"{re.escape(first)}(?={'|'.join(rests)})") for first, rests in by_first.items())


#: (kind, pattern, its trigger searches, whether they look in the lower-cased text), once.
_SCANS = [(what, pattern, _first_letter_searches(TRIGGERS[what]), bool(pattern.flags & re.IGNORECASE))
          for what, pattern in LEAKS.items()]


def suspected(text: str) -> list[str]:
    """The kinds of :data:`LEAKS` whose pattern finds something in ``text`` (their triggers looked for first)."""
    lowered: str | None = None
    found = []
    for what, pattern, searches, blind in _SCANS:
        if blind:
            lowered = text.lower() if lowered is None else lowered
        haystack = lowered if blind else text
        if any(search.search(haystack) for search in searches) and pattern.search(text):
            found.append(what)
    return found


#: Server software that a Server header must not name (besides any version number).
PRODUCTS = re.compile(r"apache|nginx|uvicorn|gunicorn|hypercorn|jetty|tomcat|iis|kestrel|express|werkzeug|python|"
                      r"php|openresty|caddy|envoy|lighttpd|cherrypy|waitress|wildfly|jboss|weblogic|websphere|"
                      r"node|spring|undertow|netty|resin|glassfish|tengine|litespeed", re.IGNORECASE)
BANNER_HEADERS = ("x-powered-by", "x-aspnet-version", "x-aspnetmvc-version", "x-generator", "x-runtime")
REFUSED_STATUSES = (401, 403, 495, 496)  # HTTP-level refusals (495/496: nginx's certificate errors)


@check("S24-SEC-001")
def no_full_resident_number(session: Session) -> Outcome:
    problems: list[Evidence] = []
    answers = session.responses()
    for ex in answers:
        places: list[tuple[str | None, str]] = []
        # One scan of the whole answer; the fields are walked (for the pointers) only when it finds something.
        if FULL_RRN_SCAN.search(ex.scan_text):
            places += list(strings(ex.body)) if ex.body is not None else [(None, ex.text)]
        places += [(f"header {name}", value) for name, value in ex.headers.items()]
        for pointer, text in places:
            for match in FULL_RRN.finditer(text):
                problems.append(session.evidence(
                    ex, "주민등록번호 전체가 응답에 있습니다 / a full resident number in the answer",
                    pointer=pointer, expected="YYMMDD-G******", actual=match.group()))  # masked by evidence()
    return session.verdict(problems, len(answers), "answers")


@check("S24-SEC-002")
def no_internals_in_errors(session: Session) -> Outcome:
    """Internals leak from error pages first, but an exception text pasted into a 200 answer leaks as much."""
    problems: list[Evidence] = []
    answers = session.responses()
    for ex in answers:
        kinds = suspected(ex.scan_text)
        if not kinds:
            continue
        places = list(strings(ex.body)) if ex.body is not None else [(None, ex.text)]
        for what in kinds:
            # A match across two fields of the JSON text (scan_text's view) is none: each field is judged alone.
            found = next(((pointer, m) for pointer, text in places if (m := LEAKS[what].search(text))), None)
            if found is not None:
                problems.append(session.evidence(ex, f"응답에 내부 정보({what}) / {what} in an answer ({ex.answered})",
                                                 pointer=found[0], actual=excerpt(found[1].group(), 120)))
    return session.verdict(problems, len(answers), "answers")


@check("S24-SEC-003")
def no_server_banner(session: Session) -> Outcome:
    problems: list[Evidence] = []
    answers = session.responses()
    for ex in answers:
        server = ex.headers.get("server", "")
        if server and (any(c.isdigit() for c in server) or PRODUCTS.search(server)):
            problems.append(session.evidence(ex, "Server 헤더가 소프트웨어·버전을 드러냅니다 / Server names software",
                                             pointer="header server", expected=None, actual=server))
        problems += [session.evidence(ex, f"{name} 헤더 / {name} header", pointer=f"header {name}",
                                      expected=None, actual=ex.headers[name])
                     for name in BANNER_HEADERS if ex.headers.get(name)]
    # One finding per distinct header value is enough: every answer of a server carries the same banner.
    unique = list({(e.pointer, e.actual): e for e in problems}.values())
    return session.verdict(unique, len(answers), "answers")


def _refused(ex: Exchange) -> bool | None:
    """True when the target refused a client without a certificate, False when it served it, None if unclear."""
    if ex.status is None:
        return None if "timeout" in (ex.error or "").lower() else True
    return ex.status in REFUSED_STATUSES


@check("S24-SEC-004")
def mutual_tls_required(session: Session) -> Outcome:
    if not session.target.url.lower().startswith("https://"):
        return failed("TLS 없이 HTTP로 응답합니다 / the target serves plain HTTP, without TLS",
                      session.evidence(session.health(), "https:// 주소가 아닙니다 / not an https:// URL",
                                       expected="https://…", actual=session.target.url))
    query, _ = session.sample()
    client = session.client_without_certificate()
    try:
        # On TLS 1.3 the server judges the certificate after the handshake: only a request and a read show it.
        tries = [session.raw("GET", HEALTH, client=client), session.ask(SEARCH, session.search_body(query),
                                                                         client=client)]
    finally:
        client.close()
    return _refusals(session, tries, ("인증서 없는 클라이언트", "a client without a certificate"),
                     ("인증서 없이", "without a certificate"), "TLS 거절 또는 401/403 / TLS refusal or 401/403")


@check("S24-SEC-006")
def relay_role_only(session: Session) -> Outcome:
    """Mutual TLS proves the CA, not the caller: a patient app's certificate from the same CA must not fetch."""
    other = session.other_role_credential()
    if other is None:
        return skipped("중계기관 인증서와 같은 CA의 다른 역할 인증서가 없습니다 (키트 PKI 사용 시 시험) "
                       "/ no certificate of another role from the relay certificate's CA (tested with the kit's PKI)")
    cert, key, role = other
    query, visits = session.sample()
    client = session.client_with_certificate(cert, key)
    try:
        tries = [session.ask(SEARCH, session.search_body(query), client=client)]
        if visits:
            tries.append(session.ask(FETCH, session.fetch_body(query, visits[:1]), client=client))
    finally:
        client.close()
    return _refusals(session, tries, (f"{role} 역할 인증서", f"a certificate of role {role}"),
                     (f"{role} 인증서로", f"with a {role} certificate"),
                     "403 forbidden (또는 TLS 거절 / or a TLS refusal)")


def _refusals(session: Session, tries: list[Exchange], caller: tuple[str, str], sent: tuple[str, str],
              expected: str) -> Outcome:
    """Fail when ``caller`` was served, warn when a refusal could not be confirmed, pass when every try was refused.

    ``caller``: who was refused, as "(ko) / (en)" names it; ``sent``: how each request went, in the evidence.
    """
    served = [ex for ex in tries if _refused(ex) is False]
    if served:
        return failed(f"{caller[0]}에 응답했습니다 / answered {caller[1]}",
                      *[session.evidence(ex, f"{sent[0]} {ex.answered} / {ex.answered} {sent[1]}",
                                         expected=expected, actual=ex.answered) for ex in served])
    unclear = [ex for ex in tries if _refused(ex) is None]
    if unclear:
        return warned("거절 여부를 확인하지 못했습니다 (시간 초과) / refusal not confirmed (timed out)",
                      *[session.evidence(ex, ex.error or "", actual=ex.error) for ex in unclear])
    how = "; ".join(ex.answered for ex in tries)
    return passed(f"{caller[0]} 거절 / refused {caller[1]}: {how}")


def _owners(session: Session) -> dict[str, str]:
    """Identifying strings of each scenario patient (identity token, patient number, visit ids) → patient_id."""
    def compute() -> dict[str, str]:
        owners: dict[str, str] = {}
        for token, patient in session.scenario.patients.items():
            owners[token] = owners[f"patient_number={patient['patient_number']}"] = patient["patient_id"]
        for visit_id, visit in session.scenario.visits.items():
            owners[visit_id] = visit["patient_id"]
        return owners
    return session.once("owners", compute)


def _requester(session: Session, ex: Exchange) -> str | None:
    """The scenario patient a request asked about (None for requests about nobody known)."""
    try:
        body: Any = json.loads(ex.request_body)
        token = body["patient"]["identity_token"]
    except (ValueError, KeyError, TypeError):
        return None
    patient = session.scenario.patients.get(token) if isinstance(token, str) else None
    return patient["patient_id"] if patient else None


def _mentioned(session: Session, ex: Exchange) -> set[str]:
    """The patients whose identifying strings (as :func:`_owners` keys them) may occur in ``ex``'s body.

    A superset, computed without walking the body: every string is looked up both as itself and as a
    patient number, whatever field it sits in.
    """
    owners = _owners(session)
    # Valid JSON without escapes: its strings are exactly the odd pieces between quotes; else decode them.
    found = all_strings(ex.body) if "\\" in ex.text else ex.text.split('"')[1::2]
    numbers = session.once("patient_numbers", lambda: {p["patient_number"]: p["patient_id"]
                                                       for p in session.scenario.patients.values()})
    return {owners[s] for s in owners.keys() & found} | {numbers[s] for s in numbers.keys() & found}


@check("S24-SEC-005")
def only_requested_patient(session: Session) -> Outcome:
    owners = _owners(session)
    problems: list[Evidence] = []
    judged = 0
    for ex in session.responses():
        if ex.body is None or (requester := _requester(session, ex)) is None:
            continue
        judged += 1
        if _mentioned(session, ex) <= {requester}:
            continue  # nobody else's identifiers: no need to walk the fields for pointers
        for pointer, text in strings(ex.body):
            # A patient number is just digits: only a patient_number field can betray one.
            owner = owners.get(f"patient_number={text}" if pointer.endswith("/patient_number") else text)
            if owner is not None and owner != requester:
                problems.append(session.evidence(
                    ex, f"다른 환자({owner})의 정보 / data of another patient ({owner})", pointer=pointer,
                    expected=f"{requester}의 정보만 / only {requester}'s data", actual=text))
    return session.verdict(problems, judged, "answers about a patient")
