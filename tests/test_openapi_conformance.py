"""The description is the truth: Schemathesis against every party's OpenAPI, over real mutual TLS on loopback.

The simulator runs as ``s24kit serve`` runs it (:meth:`Stack.network`). Schemathesis' own command line
(``python -m schemathesis.cli run``) tests each party's operations — examples, coverage, fuzzing and the
stateful phase that follows the description's ``links`` — with, for each operation, a client certificate of
the role its ``x-s24-roles`` names. Fuzz dictionaries feed it the scenario's real provider, patient, visits,
claims and receipt numbers, so it reaches the parties' logic instead of 404s. Every response must be
documented: status code, content type and schema. A second pass presents a certificate of a role the
operation does not accept and must get only the documented ``403 forbidden``.

The runs are seeded (the same seed, the same cases) and bounded in examples per operation and in time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from s24kit.simulator import pki as pki_module
from s24kit.simulator.admin import AdminRoute, admin_routes
from s24kit.simulator.faults import FaultSwitch
from s24kit.simulator.insurer.adjudication import engine_adjudicator
from s24kit.simulator.insurer.app import ACCESS as insurer_access
from s24kit.simulator.insurer.app import create_insurer_app
from s24kit.simulator.insurer.config import InsurerConfig
from s24kit.simulator.insurer.register import ContractRegister
from s24kit.simulator.insurer.register_app import ACCESS as register_access
from s24kit.simulator.insurer.register_app import create_register_app
from s24kit.simulator.pki import Credential
from s24kit.simulator.problems import ROUTING_PROBLEMS
from s24kit.simulator.provider.app import ACCESS as provider_access
from s24kit.simulator.relay import RelayConfig, create_relay_app
from s24kit.simulator.relay.app import ACCESS as relay_access
from s24kit.simulator.stack import SimClock, Stack, StackOptions

from .conftest import ROOT, generated_scenario

SPECS = ROOT / "schemas" / "kit-v1"
PROTOCOL = SPECS / "openapi.yaml"
PROVIDER = "99310001"
INSURER = "INSA"
SEED = 20261206
MAX_EXAMPLES = 12
STATEFUL_EXAMPLES = 20
RUN_SECONDS = 120  # per Schemathesis run; a run that needs more is a failure, not a hang
METHODS = ("get", "put", "post", "delete", "patch")

#: The credential (in the test PKI) that carries each certificate role.
CREDENTIAL_OF_ROLE = {"relay": "relay-client", "provider-agent": "provider-agent", "patient-app": "patient-app",
                      "insurer": f"insurer-client-{INSURER}", "admin": "admin"}
ROLES = tuple(CREDENTIAL_OF_ROLE)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    tags: tuple[str, ...]
    roles: tuple[str, ...] | None  # None: open to any caller
    success: tuple[int, ...]


def operations(spec: Path) -> list[Operation]:
    """Every operation of ``spec`` with the roles it accepts (``x-s24-roles``) and its documented 2xx codes."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                roles = op["x-s24-roles"]
                found.append(Operation(op["operationId"], method.upper(), path, tuple(op.get("tags", ())),
                                       None if roles == "open" else tuple(roles),
                                       tuple(int(s) for s in op["responses"] if s.startswith("2"))))
    return found


# -- the simulator and the real data it holds -------------------------------------------------------------------


@dataclass
class Served:
    stack: Stack
    patient: dict[str, Any]
    record: dict[str, Any]
    claim_ids: list[str]
    receipts: list[str]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    return (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def _client(stack: Stack, role: str) -> httpx.Client:
    credential = _credential(stack.pki, role)
    context = stack.pki.client_context(None)
    context.load_cert_chain(credential.cert, credential.key)
    return httpx.Client(base_url=stack.urls["relay"], timeout=10.0, verify=context)


def _claim_through_the_relay(stack: Stack, record: dict[str, Any]) -> dict[str, Any]:
    """Send ``record``'s claim (for insurer INSURER only) and wait until the relay has an answer for it."""
    claim = {**record["claim"], "insurers": [INSURER], "request_id": "conformance-claim-0001"}
    with _client(stack, "patient-app") as relay:
        created = relay.post("/relay/v1/claims", json=claim)
        assert created.status_code == 202, created.text
        claim_id = created.json()["claim_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = relay.get(f"/relay/v1/claims/{claim_id}", params={"wait": 5}).json()
            if status["state"] in ("paid", "denied", "failed", "more_documents_required"):
                return status
        raise AssertionError(f"claim {claim_id} still {status['state']}")


@contextlib.contextmanager
def serving(tmp_path_factory: pytest.TempPathFactory, **options: Any) -> Iterator[Served]:
    """The simulator on loopback over mutual TLS, with one real claim made through it."""
    scenario = generated_scenario(tmp_path_factory, "--patients", "4", "--seed", "11", "--provider", PROVIDER)
    record = next(r for r in _lines(scenario / "claims.jsonl")
                  if r["claim"]["provider_code"] == PROVIDER and INSURER in r["claim"]["insurers"]
                  and r["documents_from"] == "provider")
    patient = next(p for p in _lines(scenario / "emr-seed" / "patients.jsonl")
                   if p["identity_token"] == record["claim"]["insured"]["identity_token"])
    clock = SimClock(dt.datetime.fromisoformat(record["claim"]["consent"]["granted_at"]) + dt.timedelta(minutes=1))
    stack = Stack(StackOptions(scenario, tmp_path_factory.mktemp("state"), providers=[PROVIDER], clock=clock,
                               persistent=False, **options))
    with stack.network():
        status = _claim_through_the_relay(stack, record)
        receipts = [i["receipt_number"] for i in status["insurers"] if i.get("receipt_number")]
        assert receipts, status  # the claim reached the insurer: its receipt number is real data below
        yield Served(stack, patient, record, [status["claim_id"]], receipts)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def admin_served(tmp_path_factory) -> Iterator[Served]:
    """A simulator of its own (admin calls reset it and change its fault plan), as ``s24kit serve`` runs it:
    with the fault layer, whose admin routes are described too."""
    with serving(tmp_path_factory, faults=FaultSwitch()) as running:
        yield running


# -- Schemathesis' configuration ----------------------------------------------------------------------------------


def _toml(value: Any) -> str:
    """A TOML value for the simple values the configuration needs (strings, numbers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string of BMP text is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _dictionaries(served: Served) -> dict[str, list[Any]]:
    """Real values of the running simulator, offered to Schemathesis next to what it generates."""
    claim, patient = served.record["claim"], served.patient
    return {
        "provider": [PROVIDER], "insurer": [INSURER], "claim": served.claim_ids, "receipt": served.receipts,
        "name": [patient["name"]], "birth_date": [patient["birth_date"]], "token": [patient["identity_token"]],
        "granted": [claim["consent"]["granted_at"]], "expires": [claim["consent"]["expires_at"]],
        "period_start": ["2000-01-01"], "period_end": ["2099-12-31"], "no_wait": [0],
        "pull": ["pull"], "provider_url": [served.stack.urls[f"provider:{PROVIDER}"]],
        "exchange": [entry["id"] for entry in served.stack.journal.search(limit=5)],
    }


#: Which dictionary feeds which parameter, per operation.
BINDINGS: dict[str, dict[str, str]] = {
    "searchVisits": {"body.patient.name": "name", "body.patient.birth_date": "birth_date",
                     "body.patient.identity_token": "token", "body.consent.granted_at": "granted",
                     "body.consent.expires_at": "expires", "body.period.start": "period_start",
                     "body.period.end": "period_end"},
    "fetchDocuments": {"body.patient.name": "name", "body.patient.birth_date": "birth_date",
                       "body.patient.identity_token": "token", "body.consent.granted_at": "granted",
                       "body.consent.expires_at": "expires"},
    "createClaim": {"body.provider_code": "provider", "body.consent.granted_at": "granted",
                    "body.consent.expires_at": "expires"},
    "getClaim": {"path.claim_id": "claim", "query.wait": "no_wait"},
    "addClaimDocuments": {"path.claim_id": "claim", "body.provider_code": "provider"},
    "postInsurerEvent": {"path.claim_id": "claim", "body.claim_id": "claim", "body.insurer_code": "insurer",
                         "body.receipt_number": "receipt"},
    "agentPoll": {"body.provider_code": "provider", "query.wait": "no_wait"},
    "submitClaim": {"body.insurer_code": "insurer"},
    "getInsurerClaim": {"path.receipt_number": "receipt"},
    "relayAdminClaim": {"path.claim_id": "claim"},
    "relayAdminPutProvider": {"path.code": "provider", "body.mode": "pull", "body.base_url": "provider_url"},
    "relayAdminExchange": {"path.exchange_id": "exchange"},
    "relayAdminJournal": {"query.before": "exchange"},
    "insurerAdminExplanation": {"path.receipt_number": "receipt"},
    "insurerAdminDecide": {"path.receipt_number": "receipt"},
    "registerLookup": {"body.identity_token": "token"},
}


#: Documented answers to a schema-valid body that is wrong in substance (an unknown insurer, another provider's
#: claim, documents that break the contract's rules, a provider's host not allowed, a fault plan that cannot
#: run, a journal page after another process's exchange): Schemathesis may not count them as a refusal of valid
#: data.
SEMANTIC_REJECTIONS: dict[str, list[str]] = {
    "createClaim": ["400"], "addClaimDocuments": ["400"], "submitClaim": ["400", "422"],
    "relayAdminPutProvider": ["400"], "relayAdminPutFaults": ["400"],
    "relayAdminJournal": ["400"],  # `before` naming another process's file, which a single relay does not read
}


#: The coverage phase derives a negative case from every keyword of the schema, some 1,700 for a claim
#: submission with its four document schemas (a minute and a half), and generating whole submissions for the
#: stateful phase takes as long while no generated one passes the documents' rules (so its link never fires):
#: the submission gets the examples and fuzzing phases here (the insurer's claims are reached with the real
#: claim's receipt numbers), and the document schemas are covered keyword by keyword by their own tests.
SLOW_PHASES_OFF = {"submitClaim": {"coverage": {"enabled": False}}}
#: Descriptions with links the stateful phase can follow (the insurer's needs a submission that passes the
#: documents' rules, which generation does not make; the admin APIs have none).
STATEFUL = {"relay", "provider"}


def _credential(pki: pki_module.TestPKI, role: str) -> Credential:
    return pki[CREDENTIAL_OF_ROLE[role]]


def write_config(path: Path, served: Served, ops: list[Operation], certificate: dict[str, str | None]) -> Path:
    """``schemathesis.toml``: seeded, bounded, the CA, and per operation its certificate
    (``certificate[operation_id]`` is a role, or None for none) and its dictionary bindings."""
    pki = served.stack.pki
    lines = [f"seed = {SEED}", "workers = 1", "request-timeout = 10", f"tls-verify = {_toml(str(pki.ca_cert))}",
             "[generation]", f"max-examples = {MAX_EXAMPLES}", 'database = "none"',
             "[phases.stateful]", "max-steps = 4",
             "[phases.stateful.generation]", f"max-examples = {STATEFUL_EXAMPLES}"]
    for name, values in _dictionaries(served).items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml(values)}"]
    for op in ops:
        entry = [f"include-operation-id = {_toml(op.operation_id)}"]
        role = certificate.get(op.operation_id)
        if role is not None:
            credential = _credential(pki, role)
            entry += [f"request-cert = {_toml(str(credential.cert))}",
                      f"request-cert-key = {_toml(str(credential.key))}"]
        if op.operation_id in SEMANTIC_REJECTIONS:
            entry.append("checks = " + _toml({"positive_data_acceptance": {
                "expected-statuses": ["2xx", "403", "404", "409", *SEMANTIC_REJECTIONS[op.operation_id]]}}))
        if op.operation_id in SLOW_PHASES_OFF:
            entry.append("phases = " + _toml(SLOW_PHASES_OFF[op.operation_id]))
        bindings = BINDINGS.get(op.operation_id, {})
        if bindings:
            entry.append("parameters = " + _toml({k: {"dictionary": v, "probability": 0.95}
                                                  for k, v in bindings.items()}))
        lines += ["[[operations]]", *entry]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Run:
    returncode: int
    output: str
    exchanges: list[tuple[str, str, int, Any]]  # method, path, status, JSON body (or None)

    def statuses(self, op: Operation) -> Counter[int]:
        return Counter(status for method, path, status, _ in self.exchanges
                       if method == op.method and _matches(op.path, path))


def _matches(template: str, path: str) -> bool:
    parts, given = template.split("/"), path.split("?")[0].split("/")
    return len(parts) == len(given) and all(p.startswith("{") or p == g for p, g in zip(parts, given, strict=True))


def run_schemathesis(workdir: Path, spec: Path, url: str, tag: str, config: Path, *, phases: str,
                     only: list[str] = ()) -> Run:
    """Run Schemathesis' command line: ``phases`` on ``spec``'s operations tagged ``tag`` (and in ``only``)."""
    har = workdir / f"{tag}-{phases.replace(',', '-')}.har"
    selection = [arg for op_id in only for arg in ("--include-operation-id", op_id)] or ["--include-tag", tag]
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run",
               str(spec), "--url", url, *selection, "--phases", phases,
               "--report", "har", "--report-har-path", str(har)]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=RUN_SECONDS)
    exchanges = []
    if har.exists():
        for entry in json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]:
            text = entry["response"].get("content", {}).get("text")
            try:
                body = json.loads(text) if text else None
            except json.JSONDecodeError:
                body = None
            path = "/" + entry["request"]["url"].split("/", 3)[-1]
            exchanges.append((entry["request"]["method"], path, entry["response"]["status"], body))
    return Run(done.returncode, done.stdout + done.stderr, exchanges)


def run_every_phase(workdir: Path, spec: Path, url: str, tag: str, config: Path, only: list[str] = ()) -> Run:
    """The stateful phase first, on fresh state (after the other phases it finds mostly request ids already
    used, answered 409, and follows no link), then examples, coverage and fuzzing; one :class:`Run` of both."""
    runs = [run_schemathesis(workdir, spec, url, tag, config, phases=phases, only=only)
            for phases in (("stateful",) if tag in STATEFUL else ()) + ("examples,coverage,fuzzing",)]
    return Run(max(r.returncode for r in runs), "\n".join(r.output for r in runs),
               [exchange for r in runs for exchange in r.exchanges])


# -- the runs -------------------------------------------------------------------------------------------------------

PARTIES = {"provider": f"provider:{PROVIDER}", "relay": "relay", "insurer": f"insurer:{INSURER}"}
#: The admin descriptions (apart from kit-v1: the same /__admin/claims means another thing at each party).
ADMIN = {"relay-admin": (SPECS / "admin-relay.openapi.yaml", "relay"),
         "insurer-admin": (SPECS / "admin-insurer.openapi.yaml", f"insurer:{INSURER}")}


def _right_role(op: Operation) -> str | None:
    return op.roles[0] if op.roles else "relay"  # open routes are called with some certificate too


@pytest.mark.parametrize("tag", sorted(PARTIES))
def test_every_answer_of_the_party_is_the_documented_one(served, tag, tmp_path):
    ops = [op for op in operations(PROTOCOL) if tag in op.tags]
    config = write_config(tmp_path / "schemathesis.toml", served, ops, {op.operation_id: _right_role(op) for op in ops})
    run = run_every_phase(tmp_path, PROTOCOL, served.stack.urls[PARTIES[tag]], tag, config)
    assert run.returncode == 0, run.output[-20000:]
    assert len(run.exchanges) >= 10 * len(ops), run.output[-5000:]
    # Reached the logic, not only the refusals: every operation that can succeed did so at least once.
    unreached = [op.operation_id for op in ops
                 if op.success and op.operation_id not in UNREACHABLE_HERE
                 and not any(200 <= s < 300 for s in run.statuses(op))]
    assert not unreached, f"never a 2xx answer: {unreached}\n{run.output[-5000:]}"


#: Operations whose success needs what this run does not set up: agent polling and replies need an agent-mode
#: provider (the one here is served in pull mode); additional documents need an insurer that asked for them (the
#: insurer here pays or denies); a submission needs documents that pass the contract's rules, which generation
#: does not make (the insurer's 202 path is taken by the real claim the fixture sends through the relay).
UNREACHABLE_HERE = {"agentPoll", "agentReply", "addClaimDocuments", "submitClaim"}


def _wrong_role(op: Operation) -> str:
    return next(role for role in ROLES if role not in (op.roles or ()))


@pytest.mark.parametrize("tag", sorted(PARTIES))
def test_a_certificate_of_another_role_gets_only_the_documented_refusal(served, tag, tmp_path):
    ops = [op for op in operations(PROTOCOL) if tag in op.tags and op.roles is not None]
    config = write_config(tmp_path / "schemathesis.toml", served, ops, {op.operation_id: _wrong_role(op) for op in ops})
    run = run_every_phase(tmp_path, PROTOCOL, served.stack.urls[PARTIES[tag]], tag, config,
                          only=[op.operation_id for op in ops])
    assert run.returncode == 0, run.output[-20000:]
    answers = Counter((status, (body or {}).get("code")) for method, path, status, body in run.exchanges
                      if any(op.method == method and _matches(op.path, path) for op in ops))
    assert answers and set(answers) == {(403, "forbidden")}, answers


@pytest.mark.parametrize("tag", sorted(ADMIN))
def test_every_answer_of_the_admin_api_is_the_documented_one(admin_served, tag, tmp_path):
    spec, party = ADMIN[tag]
    ops = operations(spec)
    config = write_config(tmp_path / "schemathesis.toml", admin_served, ops, {op.operation_id: "admin" for op in ops})
    run = run_every_phase(tmp_path, spec, admin_served.stack.urls[party], tag, config)
    assert run.returncode == 0, run.output[-20000:]
    unreached = [op.operation_id for op in ops if op.operation_id not in ADMIN_UNREACHABLE_HERE
                 and not any(200 <= s < 300 for s in run.statuses(op))]
    assert not unreached, f"never a 2xx answer: {unreached}\n{run.output[-5000:]}"


#: The simulator's own services, apart from kit-v1 and its parties: the 중복가입 register the insurers ask.
SERVICES = {"register": (SPECS / "register.openapi.yaml", "register")}


@pytest.mark.parametrize("tag", sorted(SERVICES))
def test_every_answer_of_a_simulator_service_is_the_documented_one(served, tag, tmp_path):
    spec, party = SERVICES[tag]
    ops = operations(spec)
    config = write_config(tmp_path / "schemathesis.toml", served, ops, {op.operation_id: _right_role(op) for op in ops})
    run = run_every_phase(tmp_path, spec, served.stack.urls[party], tag, config)
    assert run.returncode == 0, run.output[-20000:]
    assert len(run.exchanges) >= 10 * len(ops), run.output[-5000:]
    unreached = [op.operation_id for op in ops if not any(200 <= s < 300 for s in run.statuses(op))]
    assert not unreached, f"never a 2xx answer: {unreached}\n{run.output[-5000:]}"
    # answered for the insurer the certificate names, never with that insurer's own policies
    looked_up = [body for method, path, status, body in run.exchanges
                 if path == "/register/v1/lookups" and status == 200]
    assert looked_up and all(body["insurer_code"] == INSURER for body in looked_up)
    assert all(policy["insurer_code"] != INSURER for body in looked_up for policy in body["policies"])


@pytest.mark.parametrize("tag", sorted(SERVICES))
def test_a_certificate_of_another_role_gets_only_the_documented_refusal_from_a_service(served, tag, tmp_path):
    spec, party = SERVICES[tag]
    ops = [op for op in operations(spec) if op.roles is not None]
    config = write_config(tmp_path / "schemathesis.toml", served, ops, {op.operation_id: _wrong_role(op) for op in ops})
    run = run_every_phase(tmp_path, spec, served.stack.urls[party], tag, config, only=[op.operation_id for op in ops])
    assert run.returncode == 0, run.output[-20000:]
    answers = Counter((status, (body or {}).get("code")) for method, path, status, body in run.exchanges
                      if any(op.method == method and _matches(op.path, path) for op in ops))
    assert answers and set(answers) == {(403, "forbidden")}, answers


#: Admin calls that succeed only in states this run does not set up (a dead letter to retry, a pended claim, an
#: adjudicated payout to explain), or whose data the run's own reset and journal deletion may remove first (one
#: claim, one exchange), or that need several generated fields right at once (a registration).
ADMIN_UNREACHABLE_HERE = {"relayAdminRetry", "insurerAdminDecide", "insurerAdminExplanation", "relayAdminClaim",
                          "relayAdminExchange", "relayAdminPutProvider"}


@pytest.mark.parametrize("tag", sorted(ADMIN))
def test_only_the_admin_certificate_reaches_the_admin_api(admin_served, tag, tmp_path):
    spec, party = ADMIN[tag]
    ops = operations(spec)
    config = write_config(tmp_path / "schemathesis.toml", admin_served, ops, {op.operation_id: "relay" for op in ops})
    run = run_every_phase(tmp_path, spec, admin_served.stack.urls[party], tag, config)
    assert run.returncode == 0, run.output[-20000:]
    answers = Counter((status, (body or {}).get("code")) for _, _, status, body in run.exchanges)
    assert answers and set(answers) == {(403, "forbidden")}, answers


# -- what Starlette answers by itself ----------------------------------------------------------------------------


def _admin_app() -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse({"method": request.method})

    table = [AdminRoute("GET", "/__admin/things", echo, "목록", "list"),
             AdminRoute("POST", "/__admin/things", echo, "추가", "add")]
    return Starlette(routes=admin_routes(table, "test"), exception_handlers=ROUTING_PROBLEMS)


@pytest.mark.anyio
async def test_a_method_a_path_does_not_have_is_a_problem_listing_every_method_of_the_path():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_admin_app()), base_url="https://t") as client:
        for method in ("GET", "POST"):
            assert (await client.request(method, "/__admin/things")).json() == {"method": method}
        refused = await client.put("/__admin/things")
    assert refused.status_code == 405 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "method_not_allowed"
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


@pytest.mark.anyio
async def test_a_path_a_party_does_not_have_is_a_problem():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(_admin_app()), base_url="https://t") as client:
        missing = await client.get("/__admin/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"


# -- the description names what the code serves ------------------------------------------------------------------


def _served_routes(app: Starlette) -> set[tuple[str, str]]:
    return {(method, route.path) for route in app.routes if isinstance(route, Route)
            for method in route.methods or () if method != "HEAD"}


def test_the_descriptions_name_every_route_of_every_party_with_the_roles_its_access_table_allows():
    apps = {"relay": create_relay_app(RelayConfig(), faults=FaultSwitch()),
            "insurer": create_insurer_app(InsurerConfig(INSURER), adjudicator=engine_adjudicator),
            "register": create_register_app(ContractRegister())}
    described = {"relay": operations(PROTOCOL) + operations(ADMIN["relay-admin"][0]),
                 "insurer": operations(PROTOCOL) + operations(ADMIN["insurer-admin"][0]),
                 "provider": operations(PROTOCOL), "register": operations(SERVICES["register"][0])}
    tables = {"relay": relay_access, "insurer": insurer_access, "provider": provider_access,
              "register": register_access}
    for party, ops in described.items():
        ops = [op for op in ops if op.tags[0] in (party, f"{party}-admin")]
        if party in apps:
            assert _served_routes(apps[party]) == {(op.method, op.path) for op in ops}, party
        else:
            assert {row.path for row in tables[party].rows} == {op.path for op in ops}
        for op in ops:
            rule = tables[party].rule(op.path)
            allowed = None if rule.open else tuple(sorted(rule.roles))
            assert allowed == (None if op.roles is None else tuple(sorted(op.roles))), (party, op.operation_id)
