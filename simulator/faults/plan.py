"""Fault plans: a closed set of named faults, matched by party / route / method, seeded and replayable.

Whether the n-th call matching rule i gets its fault depends only on (seed, i, n) (and, with ``times``, on
how often the rule fired before), so replaying the same calls yields the same faults. One fault per call:
every matching rule counts the call, the first rule (in plan order) that fires is applied.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
import random
import threading
import tomllib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ...schemas.loader import schema

MAX_MS = 600_000  # no fault may hold a call longer than ten minutes
APPLIED_LOG = 1_000  # the applied log keeps the most recent entries


class FaultKind(StrEnum):
    LATENCY = "latency"
    ERROR_STATUS = "error_status"
    CONNECTION_RESET = "connection_reset"
    TIMEOUT = "timeout"
    SLOW_BODY = "slow_body"
    TRUNCATED_BODY = "truncated_body"
    MALFORMED_JSON = "malformed_json"
    DUPLICATE_EVENT = "duplicate_event"
    OUT_OF_ORDER_EVENTS = "out_of_order_events"
    PARTY_DOWN = "party_down"


class FaultPlanError(ValueError):
    """A plan that cannot be used; the message names the rule and field in Korean and English."""

    def __init__(self, where: str, message_ko: str, message_en: str) -> None:
        super().__init__(f"{where}: {message_ko} / {where}: {message_en}")
        self.where, self.message_ko, self.message_en = where, message_ko, message_en


# -- parameters of each kind ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One parameter: its type, allowed range or choices, and default (``REQUIRED`` when none)."""

    kind: type | tuple[type, ...]
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    default: Any = None
    required: bool = False
    low_open: bool = False  # low itself excluded

    def check(self, where: str, value: Any) -> Any:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = "/".join(k.__name__ for k in kinds)
            raise FaultPlanError(where, f"{_KO_TYPES.get(names, names)} 값이어야 합니다 (받은 값 {value!r})",
                                 f"must be {names} (got {value!r})")
        if self.choices is not None and value not in self.choices:
            listed = ", ".join(map(str, self.choices))
            raise FaultPlanError(where, f"{listed} 중 하나여야 합니다 (받은 값 {value!r})",
                                 f"must be one of {listed} (got {value!r})")
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        if too_low or (self.high is not None and value > self.high):
            low = "(" if self.low_open else "["
            span = f"{low}{self.low if self.low is not None else '-∞'}, {self.high if self.high is not None else '∞'}]"
            raise FaultPlanError(where, f"범위 {span} 안이어야 합니다 (받은 값 {value!r})",
                                 f"must be within {span} (got {value!r})")
        return value


_KO_TYPES = {"int": "정수", "int/float": "숫자", "str": "문자열", "bool": "참/거짓"}
NUMBER = (int, float)


def _problem_codes() -> tuple[str, ...]:
    return tuple(schema("problem")["properties"]["code"]["enum"])


DEFAULT_CODES = {400: "invalid_request", 403: "invalid_consent", 404: "not_found", 405: "method_not_allowed",
                 409: "idempotency_conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                 429: "rate_limited", 502: "upstream_failed", 503: "service_unavailable", 504: "timeout"}

PARAMS: dict[FaultKind, dict[str, Param]] = {
    FaultKind.LATENCY: {
        "distribution": Param(str, choices=("fixed", "uniform", "lognormal"), default="fixed"),
        "ms": Param(NUMBER, 0, MAX_MS), "lo_ms": Param(NUMBER, 0, MAX_MS), "hi_ms": Param(NUMBER, 0, MAX_MS),
        "median_ms": Param(NUMBER, 0, MAX_MS, low_open=True), "p99_ms": Param(NUMBER, 0, MAX_MS, low_open=True)},
    FaultKind.ERROR_STATUS: {
        "status": Param(int, 400, 599, default=503), "code": Param(str),
        "retry_after": Param(int, 0, 86_400)},
    FaultKind.CONNECTION_RESET: {"at": Param(str, choices=("connect", "response"), default="connect")},
    FaultKind.TIMEOUT: {"bound_ms": Param(NUMBER, 0, MAX_MS, default=10_000)},
    FaultKind.SLOW_BODY: {"bytes_per_second": Param(int, 1, 10**9, default=1_024)},
    FaultKind.TRUNCATED_BODY: {"fraction": Param(NUMBER, 0, 0.99, default=0.5),
                               "declare_length": Param(bool, default=True)},
    FaultKind.MALFORMED_JSON: {
        "style": Param(str, choices=("cut", "trailing_garbage", "html", "bad_utf8"), default="cut")},
    FaultKind.DUPLICATE_EVENT: {},
    FaultKind.OUT_OF_ORDER_EVENTS: {"hold_ms": Param(NUMBER, 0, 60_000, default=1_000)},
    FaultKind.PARTY_DOWN: {},
}
RULE_FIELDS = ("kind", "party", "route", "method", "probability", "times", "after")


def _check_params(where: str, kind: FaultKind, params: dict[str, Any]) -> dict[str, Any]:
    """Known parameters with their defaults filled in, cross-checked; FaultPlanError naming the field."""
    known = PARAMS[kind]
    for name in params:
        if name not in known:
            listed = ", ".join([*RULE_FIELDS, *known]) or "-"
            raise FaultPlanError(f"{where}.{name}", f"{kind} 결함에 없는 항목입니다 (가능: {listed})",
                                 f"not a field of a {kind} fault (known: {listed})")
    checked = {name: spec.check(f"{where}.{name}", params[name]) for name, spec in known.items() if name in params}
    for name, spec in known.items():
        if name not in checked and spec.default is not None:
            checked[name] = spec.default
    if kind is FaultKind.LATENCY:
        needed = {"fixed": ("ms",), "uniform": ("lo_ms", "hi_ms"), "lognormal": ("median_ms", "p99_ms")}
        for name in needed[checked["distribution"]]:
            if name not in checked:
                raise FaultPlanError(f"{where}.{name}", f"{checked['distribution']} 분포에는 {name} 값이 필요합니다",
                                     f"a {checked['distribution']} distribution needs {name}")
        if checked["distribution"] == "uniform" and checked["lo_ms"] > checked["hi_ms"]:
            raise FaultPlanError(f"{where}.hi_ms", "hi_ms 는 lo_ms 이상이어야 합니다", "hi_ms must be at least lo_ms")
        if checked["distribution"] == "lognormal" and checked["p99_ms"] < checked["median_ms"]:
            raise FaultPlanError(f"{where}.p99_ms", "p99_ms 는 median_ms 이상이어야 합니다",
                                 "p99_ms must be at least median_ms")
    if kind is FaultKind.ERROR_STATUS:
        code = checked.setdefault("code", DEFAULT_CODES.get(checked["status"],
                                                            "internal_error" if checked["status"] >= 500
                                                            else "invalid_request"))
        if code not in _problem_codes():
            raise FaultPlanError(f"{where}.code", f"problem.schema.json 의 오류 코드가 아닙니다: {code!r}",
                                 f"not an error code of problem.schema.json: {code!r}")
    return checked


# -- rules, faults and the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRule:
    """Which calls a fault applies to: party and route globs, method, probability, times, after, params."""

    kind: FaultKind
    party: str = "*"
    route: str = "*"
    method: str = "*"
    probability: float = 1.0
    times: int | None = None
    after: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, party: str, method: str, path: str) -> bool:
        return (fnmatch.fnmatchcase(party, self.party) and fnmatch.fnmatchcase(path, self.route)
                and (self.method == "*" or self.method.upper() == method.upper()))

    def as_dict(self) -> dict[str, Any]:
        """The rule in the TOML/JSON shape (parameters flat beside the common fields)."""
        out: dict[str, Any] = {"kind": str(self.kind), "party": self.party, "route": self.route,
                               "method": self.method, "probability": self.probability, "after": self.after}
        if self.times is not None:
            out["times"] = self.times
        return {**out, **self.params}


@dataclass(frozen=True)
class Fault:
    """A decision to apply rule ``rule`` to one call (the ``call``-th matching call, counted from 0)."""

    kind: FaultKind
    params: dict[str, Any]
    rule: int
    call: int
    delay_ms: float = 0.0  # latency: the sampled delay

    def __getitem__(self, name: str) -> Any:
        return self.params[name]


def _rule_from(index: int, data: Any) -> FaultRule:
    where = f"fault[{index}]"
    if not isinstance(data, dict):
        raise FaultPlanError(where, "표(table)여야 합니다", "must be a table/object")
    if "kind" not in data:
        raise FaultPlanError(f"{where}.kind", "결함 종류가 필요합니다", "the fault kind is required")
    try:
        kind = FaultKind(data["kind"])
    except (ValueError, TypeError):
        listed = ", ".join(k.value for k in FaultKind)
        raise FaultPlanError(f"{where}.kind", f"알 수 없는 결함 종류 {data['kind']!r} (가능: {listed})",
                             f"unknown fault kind {data['kind']!r} (known: {listed})") from None
    common = {
        "party": Param(str, default="*"), "route": Param(str, default="*"), "method": Param(str, default="*"),
        "probability": Param(NUMBER, 0, 1, default=1.0), "times": Param(int, 0, 10**9),
        "after": Param(int, 0, 10**9, default=0)}
    values = {name: spec.check(f"{where}.{name}", data[name]) if name in data else spec.default
              for name, spec in common.items()}
    params = {k: v for k, v in data.items() if k not in RULE_FIELDS}
    return FaultRule(kind=kind, params=_check_params(where, kind, params), **values)


class FaultPlan:
    """Rules plus a seed; :meth:`pick` decides per call and logs what was applied."""

    def __init__(self, rules: Iterable[FaultRule] = (), seed: int = 0) -> None:
        self.rules = tuple(rules)
        self.seed = seed
        self.active = bool(self.rules)  # the wrappers check only this when the plan is empty
        self._calls = [0] * len(self.rules)
        self._fired = [0] * len(self.rules)
        self._applied: deque[dict[str, Any]] = deque(maxlen=APPLIED_LOG)
        self._lock = threading.Lock()

    @classmethod
    def empty(cls) -> FaultPlan:
        return cls()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its lock (each process of ``serve --processes`` gets the plan from its options)."""
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> FaultPlan:
        if not isinstance(data, dict):
            raise FaultPlanError("plan", "객체여야 합니다 ({\"seed\": …, \"fault\": […]})",
                                 "must be an object ({\"seed\": …, \"fault\": […]})")
        for key in data:
            if key not in ("seed", "fault"):
                raise FaultPlanError(key, "알 수 없는 최상위 항목입니다 (가능: seed, fault)",
                                     "unknown top-level field (known: seed, fault)")
        seed = Param(int, 0, 2**63 - 1, default=0).check("seed", data.get("seed", 0))
        rules = data.get("fault", [])
        if not isinstance(rules, list):
            raise FaultPlanError("fault", "[[fault]] 표의 배열이어야 합니다", "must be an array of [[fault]] tables")
        return cls([_rule_from(i, r) for i, r in enumerate(rules)], seed=seed)

    @classmethod
    def from_toml(cls, text_or_path: str | Path) -> FaultPlan:
        """A plan from TOML text or a ``.toml`` file path."""
        if isinstance(text_or_path, Path) or ("\n" not in text_or_path and text_or_path.endswith(".toml")):
            path = Path(text_or_path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise FaultPlanError(str(path), f"파일을 읽을 수 없습니다 ({exc})",
                                     f"cannot read the file ({exc})") from None
        else:
            text = text_or_path
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FaultPlanError("toml", f"TOML 문법 오류: {exc}", f"TOML syntax error: {exc}") from None
        return cls.from_dict(data)

    def as_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "fault": [r.as_dict() for r in self.rules]}

    # -- deciding ----------------------------------------------------------------------------------------

    def _draws(self, rule: int, call: int) -> random.Random:
        return random.Random(f"{self.seed}:{rule}:{call}")  # str seeds hash with SHA-512: stable across runs

    def pick(self, party: str, method: str, path: str, *, kinds: frozenset[FaultKind] | None = None) -> Fault | None:
        """The fault for this call, or None. ``kinds`` limits the rules to those the caller can apply."""
        if not self.active:
            return None
        chosen: Fault | None = None
        with self._lock:
            for index, rule in enumerate(self.rules):
                if (kinds is not None and rule.kind not in kinds) or not rule.matches(party, method, path):
                    continue
                call = self._calls[index]
                self._calls[index] += 1
                if chosen is not None or call < rule.after:
                    continue
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                draws = self._draws(index, call)
                if rule.probability < 1.0 and draws.random() >= rule.probability:
                    continue
                self._fired[index] += 1
                chosen = Fault(rule.kind, rule.params, index, call, _delay(rule, draws))
                entry = {"rule": index, "kind": str(rule.kind), "party": party, "method": method.upper(),
                         "path": path, "call": call, "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")}
                if rule.kind is FaultKind.LATENCY:
                    entry["delay_ms"] = round(chosen.delay_ms, 3)
                self._applied.append(entry)
        return chosen

    def applied(self) -> list[dict[str, Any]]:
        """The faults applied so far, oldest first (the most recent :data:`APPLIED_LOG`)."""
        with self._lock:
            return list(self._applied)

    def note(self, fault: Fault, **detail: Any) -> None:
        """Add what happened later (e.g. when a held request was delivered) to the fault's log entry."""
        with self._lock:
            for entry in reversed(self._applied):
                if entry["rule"] == fault.rule and entry["call"] == fault.call:
                    entry.update(detail)
                    return


def _delay(rule: FaultRule, draws: random.Random) -> float:
    if rule.kind is not FaultKind.LATENCY:
        return 0.0
    p = rule.params
    if p["distribution"] == "fixed":
        return float(p["ms"])
    if p["distribution"] == "uniform":
        return draws.uniform(p["lo_ms"], p["hi_ms"])
    sigma = math.log(p["p99_ms"] / p["median_ms"]) / 2.3263478740408408  # z of the 99th percentile
    return min(p["median_ms"] * math.exp(sigma * draws.gauss(0.0, 1.0)), MAX_MS)


class FaultSwitch:
    """The mutable holder of the current plan (``plan_source = lambda: switch.plan``)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan.empty()

    @property
    def source(self) -> Callable[[], FaultPlan]:
        return lambda: self.plan
