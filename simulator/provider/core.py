"""What the reference provider answers, independent of how the question arrives (HTTP or agent poll).

``ProviderCore.answer(operation, body)`` → ``(status, body)``: schema checks, patient matching, consent,
idempotency on ``request_id``. The HTTP app and the outbound agent are thin wrappers around it, and the
faulty providers change one step of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from ...schemas.loader import is_valid
from ...schemas.validation import schema_findings
from ..problems import findings_as_errors, problem_body
from .scenario import Scenario

SEARCH, FETCH = "visits:search", "documents:fetch"
OPERATIONS = {SEARCH: "visit-search#/$defs/request", FETCH: "document-fetch#/$defs/request"}
KST = dt.timezone(dt.timedelta(hours=9))
Answer = tuple[int, dict[str, Any]]


def _now() -> dt.datetime:
    return dt.datetime.now(KST)


def reference_product() -> dict[str, str]:
    """The product the reference provider names in its health answer (health.schema.json ``product``)."""
    try:
        kit = version("silson24-kit")
    except PackageNotFoundError:
        kit = "0+unknown"
    return {"vendor": "silson24-kit", "name": "reference provider", "version": kit}


#: Answers one server remembers for replays of a request id, the oldest forgotten first: a retry comes within
#: minutes (the relay's five tries take seconds), and a server left running (a soak, a vendor's thousands of
#: clinics) must not grow without end. A vendor's clinics share one memory, so the bound is the server's.
REMEMBERED_ANSWERS = 16_384

Remembered = tuple[str, int, dict[str, Any]]  # (hash of the request, status, body)


class AnswerMemory:
    """The last :data:`REMEMBERED_ANSWERS` answers of one server, by provider code and request id."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self._answers: OrderedDict[tuple[str, str], Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def recall(self, key: tuple[str, str]) -> Remembered | None:
        return self._answers.get(key)

    def keep(self, key: tuple[str, str], remembered: Remembered) -> None:
        self._answers[key] = remembered
        # read at each call so that a test can lower the module's bound
        while len(self._answers) > (self.limit if self.limit is not None else REMEMBERED_ANSWERS):
            self._answers.popitem(last=False)

    def forget(self, key: tuple[str, str]) -> None:
        self._answers.pop(key, None)


class ProviderCore:
    """The answers of one provider over one scenario."""

    software = "s24kit reference provider"

    def __init__(self, scenario: Scenario, *, clock: Callable[[], dt.datetime] = _now,
                 product: dict[str, str] | None = None, memory: AnswerMemory | None = None) -> None:
        """``product`` is what health names as the product version this site runs (default: the kit's own);
        ``memory`` is the answers remembered for replays, shared by every clinic of a vendor's server."""
        self.scenario, self.clock = scenario, clock
        self.product = dict(product) if product is not None else reference_product()
        self.memory = memory if memory is not None else AnswerMemory()

    def remembers(self, request_id: str) -> bool:
        """Whether a replay of ``request_id`` gets the answer already given."""
        return self.memory.recall((self.scenario.provider_code, request_id)) is not None

    def forget(self, request_id: str) -> None:
        self.memory.forget((self.scenario.provider_code, request_id))

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "profile": "kit-v1", "provider_code": self.scenario.provider_code,
                "software": self.software, "product": dict(self.product)}

    def answer(self, operation: str, body: Any) -> Answer:
        """The status and JSON body for ``operation`` (``visits:search`` or ``documents:fetch``)."""
        schema = OPERATIONS[operation]
        if not is_valid(schema, body):
            return 400, problem_body(400, "invalid_request", "Invalid request",
                                     errors=findings_as_errors(schema_findings(schema, body)))
        digest = hashlib.sha256(json.dumps([operation, body], sort_keys=True).encode()).hexdigest()
        key = (self.scenario.provider_code, body["request_id"])
        if (seen := self.memory.recall(key)) is not None:
            if seen[0] != digest:
                return 409, problem_body(409, "idempotency_conflict", "request_id reused",
                                         "같은 request_id로 다른 요청을 보냈습니다 "
                                         "/ same request_id, different request",
                                         request_id=body["request_id"])
            return seen[1], seen[2]
        status, answer = self.decide(operation, body)
        self.memory.keep(key, (digest, status, answer))
        return status, answer

    def decide(self, operation: str, body: dict[str, Any]) -> Answer:
        """A fresh answer to a schema-valid request."""
        patient = self.scenario.patient(body["patient"])
        if patient is None:
            return 404, problem_body(404, "unknown_patient", "Unknown patient",
                                     "이름·생년월일·본인확인 토큰이 일치하는 환자가 없습니다 "
                                     "/ no patient matches the name, birth date and identity token",
                                     request_id=body["request_id"])
        if operation == SEARCH:
            if (refused := self.consent_problem(body["consent"], [])) is not None:
                return refused
            return 200, self.search(body, patient)
        if (refused := self.consent_problem(body["consent"], body["document_types"])) is not None:
            return refused
        return self.fetch(body, patient)

    def consent_problem(self, consent: dict[str, Any], wanted: list[str]) -> Answer | None:
        now = self.clock()
        granted, expires = (dt.datetime.fromisoformat(consent[k]) for k in ("granted_at", "expires_at"))
        if not granted <= now < expires:
            return 403, problem_body(403, "invalid_consent", "Consent not valid now",
                                     f"동의 기간({consent['granted_at']} ~ {consent['expires_at']})이 아닙니다 "
                                     "/ the consent is not valid at this time")
        outside = sorted(set(wanted) - set(consent["scope"]))
        if outside:
            return 403, problem_body(403, "invalid_consent", "Document types outside the consent",
                                     f"동의 범위 밖의 서류: {', '.join(outside)} / not consented: {', '.join(outside)}")
        return None

    def search(self, body: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
        period = body["period"]
        visits = [self.listed(v)
                  for v in self.scenario.visits_of(patient["patient_id"], period["start"], period["end"])]
        return {"request_id": body["request_id"], "provider_code": self.scenario.provider_code, "visits": visits}

    def fetch(self, body: dict[str, Any], patient: dict[str, Any]) -> Answer:
        documents, missing = [], []
        for visit_id in body["visit_ids"]:
            visit = self.scenario.visits.get(visit_id)
            if visit is None or visit["patient_id"] != patient["patient_id"]:
                return 404, problem_body(404, "unknown_visit", "Unknown visit",
                                         f"이 환자의 내원 {visit_id}이(가) 없습니다 "
                                         f"/ no visit {visit_id} for this patient",
                                         request_id=body["request_id"])
            held = {d["document_type"]: d for d in self.documents_of(visit_id)}
            for kind in body["document_types"]:
                if kind in held:
                    documents.append(held[kind])
                else:
                    missing.append({"visit_id": visit_id, "document_type": kind, "reason": "not_issued"})
        return 200, {"profile": "kit-v1", "request_id": body["request_id"],
                     "provider_code": self.scenario.provider_code, "documents": documents, "missing": missing}

    def documents_of(self, visit_id: str) -> list[dict[str, Any]]:
        return self.scenario.documents[visit_id]

    def listed(self, visit: dict[str, Any]) -> dict[str, Any]:
        """A visit as a search answer lists it (a pharmacy visit has no department: left out)."""
        out = {"visit_id": visit["visit_id"], "setting": visit["setting"], "start_date": visit["start_date"],
               "end_date": visit["end_date"]}
        if (department := self.department(visit["visit_id"])) is not None:
            out["department"] = department
        return {**out, "available_documents": visit["document_types"]}

    def department(self, visit_id: str) -> str | None:
        """The department of the visit's medical receipt (None for a pharmacy visit)."""
        for doc in self.scenario.documents[visit_id]:
            if doc["document_type"] == "medical_receipt":
                return doc["department"]
        return None
