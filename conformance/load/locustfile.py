"""The kit's Locust user classes; loaded only by the Locust process that ``s24kit load`` starts.

- ``PatientUser`` (against a relay, certificate role ``patient-app``): submits a scenario claim, then
  long-polls its status until it is final; the whole claim is also reported as one ``CLAIM`` entry.
- ``RelayPullUser`` (against a provider or a vendor's central server, role ``relay``): searches a claim's
  visits and fetches their documents, as the relay does for each claim.
- ``AgentUser`` (against a relay, role ``provider-agent``): polls for a provider's pending requests and
  answers them from the scenario, as a clinic's outbound agent does.

Failures carry ``problem=<code>`` (the RFC 9457 code of the answer, or ``http_<status>``) so Locust's
failure table, and the kit's summary after it, group them by problem code. Absolute imports only: Locust
loads this file by path, not as a module of the kit.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import secrets
import socket
import ssl
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.ssl
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner
from locust.stats import RequestStats, StatsError

from s24kit.conformance.load.settings import Settings
from s24kit.conformance.load.workload import (
    KST,
    Feed,
    Item,
    Partition,
    RequestIds,
    document_fetch,
    patient_claim,
    read_tenants,
    share,
    visit_search,
    worker_budget,
)
from s24kit.simulator.provider import ProviderCore, Scenario

FINAL = frozenset({"paid", "denied", "more_documents_required", "failed"})
SETTINGS = Settings.from_environment()
DONE = "s24kit-done"  # a worker's message to the master: all my claims are sent, my users have stopped
PARTS = "s24kit-parts"  # a worker's message to the master: its index and the --workers it was given
#: What went wrong with the run as a whole (a worker given another --workers); the master's results carry it.
RUN_ERRORS: list[str] = []


class Worker:
    """This process's share of the run: its partition, its feed of claims, its request ids and counts."""

    def __init__(self, index: int) -> None:
        partition = Partition(index, SETTINGS.workers)
        providers = frozenset(SETTINGS.providers) if SETTINGS.providers is not None else None
        self.partition = partition
        self._providers = providers
        self._insurers = frozenset(SETTINGS.insurers) if SETTINGS.insurers is not None else None
        self._feed: Feed | None = None
        self.finishing = False
        self.ids = RequestIds(f"{SETTINGS.run}{secrets.token_hex(2)}", partition)
        self.counts: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._sent = None
        if SETTINGS.record_ids:
            folder = Path(SETTINGS.record_ids)
            folder.mkdir(parents=True, exist_ok=True)
            self._sent = (folder / f"worker-{index:03d}-{os.getpid()}.ids").open("a", encoding="utf-8")

    @property
    def feed(self) -> Feed:
        """This worker's claims, read on first use (agents answer what the relay sends and need none)."""
        if self._feed is None:
            clinics = read_tenants(Path(SETTINGS.tenants)) if SETTINGS.tenants else None
            self._feed = Feed(share(Path(SETTINGS.scenario), self.partition, self._providers, self._insurers,
                                    clinics),
                              repeat=SETTINGS.repeat, budget=worker_budget(SETTINGS.claims, self.partition))
        return self._feed

    def next_item(self, environment: Any) -> Item:
        """The next claim of this worker; when there is none left, the user stops, and once every user of
        the worker has, the run is told (a run bounded by --claims ends then, not at --run-time)."""
        item = self.feed.next()
        if item is None:
            if not self.finishing:
                self.finishing = True
                gevent.spawn(_finish_when_idle, environment)
            raise StopUser()
        return item

    def request_id(self, patient_id: str) -> str:
        """A new request id, recorded with the patient it is for when the run records them."""
        value = self.ids.next()
        if self._sent is not None:
            self._sent.write(f"{value}\t{patient_id}\n")
        return value

    def close(self) -> None:
        if self._sent is None:
            return
        self._sent.close()
        counts = Path(self._sent.name).with_suffix(".counts.json")
        counts.write_text(json.dumps({"worker": self.partition.index, "requests": self.counts,
                                      "failures": self.failures}, sort_keys=True), encoding="utf-8")


_worker: Worker | None = None
_refused = False  # this worker's --workers disagrees with the master's: its users send nothing


def _mismatch(index: int, workers: int) -> str | None:
    """The one-line error when worker ``index`` was given ``workers`` and the master another number."""
    if workers == SETTINGS.workers and index < workers:
        return None
    return (f"작업자 {index}: --workers {workers} 이(가) 마스터의 --workers {SETTINGS.workers} 와 다릅니다 — "
            f"마스터와 모든 --worker 에 같은 --workers 를 주십시오 / worker {index}: --workers {workers} differs "
            f"from the master's --workers {SETTINGS.workers}; give the master and every --worker the same --workers")


def worker(environment: Any) -> Worker:
    """Built on first use, once the master has told this worker its index."""
    global _worker
    if _worker is None:
        _worker = Worker(getattr(environment.runner, "worker_index", 0))
    return _worker


@events.request.add_listener
def _count(request_type: str, name: str, exception: BaseException | None, **_: Any) -> None:
    if _worker is not None:
        _worker.counts[f"{request_type} {name}"] += 1
        if exception is not None:
            _worker.failures[f"{request_type} {name}"] += 1


@events.quitting.add_listener
def _close(environment: Any, **_: Any) -> None:
    if _worker is not None:
        _worker.close()
    if SETTINGS.results and not isinstance(environment.runner, WorkerRunner):
        # Locust's CSV is rewritten once a second and not at exit: its last second may be missing there
        Path(SETTINGS.results).write_text(json.dumps(final_results(environment.stats), ensure_ascii=False),
                                          encoding="utf-8")


def final_results(stats: RequestStats) -> dict[str, Any]:
    """Locust's own statistics once the run has ended (and, on a master, every worker's last report)."""
    def percentile(entry: Any, share: float) -> float | None:
        return entry.get_response_time_percentile(share) if entry.num_requests else None

    return {"rows": [{"type": e.method, "name": e.name, "requests": e.num_requests, "failures": e.num_failures,
                      "per_second": e.total_rps, "p50_ms": percentile(e, 0.5), "p99_ms": percentile(e, 0.99)}
                     for e in stats.entries.values()],
            "failures": [{"type": x.method, "name": x.name, "error": StatsError.parse_error(x.error),
                          "occurrences": x.occurrences} for x in stats.errors.values()],
            "run_errors": RUN_ERRORS}


def _finish_when_idle(environment: Any) -> None:
    """Once no user of this process sends claims any more, end its part of the run: agents, which answer what
    the relay sends, would otherwise poll on until --run-time."""
    runner = environment.runner
    senders = {PatientUser.__name__, RelayPullUser.__name__}
    while sum(count for name, count in runner.user_classes_count.items() if name in senders) > 0:
        gevent.sleep(0.2)
    if isinstance(runner, WorkerRunner):
        # this worker's last statistics first, on the same ordered channel: the master, quitting on the last
        # DONE, waits only half a second for reports, which a loaded machine may not meet
        runner._send_stats()
        runner.send_message(DONE, runner.worker_index)
    elif isinstance(runner, LocalRunner):
        runner.quit()


@events.test_start.add_listener
def _tell_the_master_my_parts(environment: Any, **_: Any) -> None:
    """A worker checks its index against its own --workers and tells the master both (the master checks
    them against its own): a mismatch would split the scenario wrongly, so the run stops instead."""
    global _refused
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return
    runner.send_message(PARTS, {"index": runner.worker_index, "workers": SETTINGS.workers})
    if runner.worker_index >= SETTINGS.workers:
        _refused = True
        environment.process_exit_code = 2
        sys.stderr.write(f"s24kit load: 작업자 번호 {runner.worker_index}이(가) --workers {SETTINGS.workers} 범위 "
                         f"밖입니다 — 마스터와 모든 --worker 에 같은 --workers 를 주십시오 / worker index "
                         f"{runner.worker_index} is outside --workers {SETTINGS.workers}; give the master and every "
                         f"--worker the same --workers\n")


@events.init.add_listener
def _master_ends_when_every_worker_is_done(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        return
    done: set[int] = set()

    def on_parts(msg: Any, **_: Any) -> None:
        error = _mismatch(int(msg.data["index"]), int(msg.data["workers"]))
        if error is not None and error not in RUN_ERRORS:
            RUN_ERRORS.append(error)
            environment.process_exit_code = 1
            gevent.spawn(environment.runner.quit)

    environment.runner.register_message(PARTS, on_parts)

    def on_done(msg: Any, **_: Any) -> None:
        done.add(msg.data)
        if len(done) >= SETTINGS.workers:
            gevent.spawn(environment.runner.quit)  # the workers send their last statistics as they quit

    environment.runner.register_message(DONE, on_done)


def transport_error(error: BaseException | None) -> str:
    """The kind of a connection that failed before any answer: ``connect_refused``, ``tls_certificate`` …"""
    if isinstance(error, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "tls_certificate"
    if isinstance(error, ssl.SSLError):
        return "tls"
    if isinstance(error, TimeoutError | socket.timeout | gevent.Timeout):
        return "timeout"
    if isinstance(error, socket.gaierror):
        return "dns"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "connection_reset"
    return type(error).__name__ if error is not None else "no_answer"


def problem_label(response: Any) -> str:
    """``problem=<code> HTTP <status>``: the answer's problem code, or ``http_<status>`` when it has none;
    ``problem=transport:<kind>`` when no answer came (status 0: refused, TLS, timeout)."""
    if not response.status_code:
        return f"problem=transport:{transport_error(getattr(response, 'error', None))}"
    code = f"http_{response.status_code}"
    try:
        body = json.loads(response.content or b"null")
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            code = body["code"]
    except ValueError:
        pass
    return f"problem={code} HTTP {response.status_code}"


def _now() -> dt.datetime:
    return dt.datetime.now(KST)


class _KitUser(FastHttpUser):
    """Mutual TLS with the kit's CA and the client certificate of the user's role."""

    abstract = True
    role = ""
    insecure = False
    wait_time = constant(0)
    network_timeout = SETTINGS.poll_wait + 30  # a long poll answers within poll_wait
    connection_timeout = 10.0

    def __init__(self, environment: Any) -> None:
        cert, key = SETTINGS.certificate(self.role)

        def context(**_: Any) -> gevent.ssl.SSLContext:
            made = gevent.ssl.create_default_context(cafile=SETTINGS.ca)
            made.minimum_version = gevent.ssl.TLSVersion.TLSv1_2
            made.load_cert_chain(cert, key)
            return made

        self.ssl_context_factory = context
        super().__init__(environment)
        self.work = None if _refused else worker(environment)

    def on_start(self) -> None:
        if self.work is None:
            raise StopUser()  # this worker's partition is wrong (said once, in _tell_the_master_my_parts)

    def post(self, path: str, body: dict[str, Any], name: str, ok: tuple[int, ...] = (200,)) -> Any | None:
        """POST ``body``; the answer's JSON when its status is in ``ok``, else None (a failure is recorded)."""
        return self.post_answer(path, body, name, ok)[0]

    def post_answer(self, path: str, body: dict[str, Any], name: str,
                    ok: tuple[int, ...] = (200,)) -> tuple[Any | None, str]:
        """POST ``body``: (the answer's JSON, "") when its status is in ``ok``, else (None, its failure label)."""
        with self.client.post(path, json=body, name=name, catch_response=True) as response:
            if response.status_code not in ok:
                response.failure(label := problem_label(response))
                return None, label
            return (response.json() if response.content else {}), ""


class PatientUser(_KitUser):
    """A patient app: submit a claim, long-poll its status until final."""

    role = "patient-app"

    @task
    def claim(self) -> None:
        item = self.work.next_item(self.environment)
        started = time.perf_counter()
        body = patient_claim(item, self.work.request_id(item.patient_id), _now())
        status, refusal = self.post_answer("/relay/v1/claims", body, "POST /relay/v1/claims", ok=(200, 202))
        if status is None:
            self._claim_ended(started, RuntimeError(refusal))  # a refused claim is a failed claim
            return
        deadline = time.monotonic() + SETTINGS.claim_timeout
        while status["state"] not in FINAL and time.monotonic() < deadline:
            with self.client.get(f"/relay/v1/claims/{status['claim_id']}?wait={SETTINGS.poll_wait:g}",
                                 name="GET /relay/v1/claims/{id}?wait", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(label := problem_label(response))
                    self._claim_ended(started, RuntimeError(label))
                    return
                status = response.json()
        failure = None
        if status["state"] == "failed":
            failure = RuntimeError("problem=claim_failed")
        elif status["state"] not in FINAL:
            failure = RuntimeError("problem=claim_timeout")
        self._claim_ended(started, failure)

    @staticmethod
    def _claim_ended(started: float, failure: BaseException | None) -> None:
        """The whole claim as one ``CLAIM`` entry: the headline counts it completed or failed."""
        events.request.fire(request_type="CLAIM", name="submitted → final", context={}, response=None,
                            response_time=(time.perf_counter() - started) * 1000, response_length=0,
                            exception=failure)


class RelayPullUser(_KitUser):
    """The relay pulling a claim's documents: ``visits:search`` then ``documents:fetch``.

    A target URL holding ``{provider}`` (a vendor's central server answering for many clinics) gets each
    claim's provider code in its place."""

    role = "relay"

    def _path(self, item_provider: str, operation: str) -> str:
        prefix = urlsplit(self.host.replace("{provider}", item_provider)).path.rstrip("/")
        return f"{prefix}/s24/v1/{operation}"

    def on_start(self) -> None:
        super().on_start()
        # every path carries the target's base path (_path): the client keeps the scheme and host alone
        parts = urlsplit(self.host)
        self.client.base_url = f"{parts.scheme}://{parts.netloc}"

    @task
    def pull(self) -> None:
        item = self.work.next_item(self.environment)
        code, now = item.claim["provider_code"], _now()
        search = visit_search(item, self.work.request_id(item.patient_id), now)
        found = self.post(self._path(code, "visits:search"), search, "POST visits:search")
        if found is None:
            return
        wanted = set(item.claim.get("visit_ids") or ())
        visit_ids = [v["visit_id"] for v in found.get("visits", []) if not wanted or v["visit_id"] in wanted]
        if not visit_ids:
            events.request.fire(request_type="POST", name="visits:search (claim's visits)", context={},
                                response=None, response_time=0, response_length=0,
                                exception=RuntimeError("problem=visits_missing"))
            return
        fetch = document_fetch(item, self.work.request_id(item.patient_id), visit_ids[:100], now)
        self.post(self._path(code, "documents:fetch"), fetch, "POST documents:fetch")


class AgentUser(_KitUser):
    """A provider's outbound agent: long-poll the relay, answer each request from the scenario."""

    role = "provider-agent"

    def on_start(self) -> None:
        super().on_start()
        self.core = agent_core()
        self.agent_id = f"load-{self.work.partition.index}-{id(self):x}"

    @task
    def poll(self) -> None:
        work = self.post(f"/relay/v1/agent/poll?wait={SETTINGS.poll_wait:g}",
                         {"provider_code": self.core.scenario.provider_code, "agent_id": self.agent_id,
                          "max_requests": 10}, "POST /relay/v1/agent/poll")
        for request in (work or {}).get("requests", []):
            status, body = self.core.answer(request["operation"], request["body"])
            self.post("/relay/v1/agent/replies", {"request_id": request["request_id"],
                                                  "operation": request["operation"], "status": status,
                                                  "body": body}, "POST /relay/v1/agent/replies", ok=(204,))


@functools.cache
def agent_core() -> ProviderCore:
    """One provider core per process (its scenario is large), shared by every agent user."""
    return ProviderCore(Scenario.load(Path(SETTINGS.scenario), SETTINGS.agent_provider))
