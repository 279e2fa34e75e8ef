"""The whole simulator over one scenario: relay, insurers and reference providers, wired together either
in-process (ASGI, no sockets) or on loopback with mutual TLS from the kit's test CA.

Both wirings build the same apps; only the transports differ. ``s24kit serve``, the pytest fixtures, the
demo, the end-to-end tests and the relay benchmark all start the simulator through :class:`Stack`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .faults import FaultSwitch, FaultTransport
from .inprocess import AsgiRouter
from .insurer.adjudication import engine_adjudicator, engine_shared_adjudicator
from .insurer.app import create_insurer_app
from .insurer.config import InsurerConfig
from .insurer.register import ContractRegister, RegisterClient
from .insurer.register_app import create_register_app
from .journal import Journal
from .pki import TestPKI, ensure_pki
from .private import private_directory, private_file, private_state_directory
from .processes import ServerProcesses, ServerSpec, serving_in_processes
from .provider import ProviderAgent, ProviderCore, Scenario, create_provider_app
from .provider.vendor import VENDOR, Tenant, create_vendor_app, tenant_cores, tenants_for
from .relay import Mode, ProviderRegistration, RelayConfig, create_relay_app, relay_client
from .relay.store import RelayStore
from .retry import RetryPolicy
from .scenario_files import read_lines as _lines  # plain or gzip-compressed (s24kit generate --compress)
from .serving import Served, bind, start

KST = dt.timezone(dt.timedelta(hours=9))
AGENT_ADDRESS = "127.0.0.1"


def _config_key(name: str) -> str:
    """Where a party's port is set in ``s24kit serve --config``."""
    return "[relay] port" if name == "relay" else "reference provider port" if name == VENDOR else f"{name} port"


REGISTER = "register"  # the simulated 중복가입 register, a server of its own


class SimClock:
    """A settable clock shared by every party, so a scenario's historical claims happen "now"."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(KST)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class StackOptions:
    """What to run. Empty ``insurers`` → one ``pay`` insurer per insurer code of the scenario."""

    scenario: Path
    state_dir: Path
    insurers: list[InsurerConfig] = field(default_factory=list)
    providers: list[str] | None = None  # provider codes to serve (None: every provider of the scenario)
    agents: list[str] = field(default_factory=list)  # of those, the ones in agent mode
    external: list[ProviderRegistration] = field(default_factory=list)  # connectors under test, not ours
    allowed_provider_hosts: tuple[str, ...] = ()  # hosts besides loopback a provider's base_url may name
    faults: FaultSwitch | None = None  # fault plan for calls between parties; None: no fault layer at all
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)  # "relay", "insurer:INSA", "provider:99…" → port
    clock: Callable[[], dt.datetime] | None = None
    persistent: bool = True  # SQLite files in state_dir (restartable) rather than in memory
    provider_app: Callable[[ProviderCore], Any] = create_provider_app
    products: dict[str, dict[str, str]] = field(default_factory=dict)  # provider code → health's product
    #: > 0: one vendor server answers for this many provider codes (simulator/provider/vendor.py), instead of
    #: one server per provider; ``providers`` and ``agents`` must then be left empty
    tenants: int = 0
    #: > 1: that many relay processes accept on the relay's socket over one database (``network(processes=True)``
    #: only, docs/performance.md §4); ``relay_lease`` is how long a worker holds a task it runs
    relay_workers: int = 1
    relay_lease: float = 15.0


class Stack:
    """Relay + insurers + providers for one scenario. Use :meth:`inprocess` or :meth:`network`."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.clock = options.clock or (lambda: dt.datetime.now(KST))
        private_state_directory(options.state_dir)
        if options.scenario.is_relative_to(options.state_dir):
            private_directory(options.scenario)
        self.pki: TestPKI = ensure_pki(options.state_dir / "pki")
        all_providers = Scenario.load_all(options.scenario)
        wanted = options.providers or sorted(all_providers)
        missing = [code for code in wanted if code not in all_providers]
        if missing:
            raise ValueError(f"providers not in the scenario: {', '.join(missing)}")
        self.tenants: list[Tenant] = []
        if options.tenants:
            if options.providers or options.agents:
                raise ValueError("tenants: a vendor server serves the scenario's providers; give no providers "
                                 "or agents with it")
            self.tenants = tenants_for(all_providers, options.tenants)
            self.cores = tenant_cores(all_providers, self.tenants, clock=self.clock)
        else:
            self.cores = {code: ProviderCore(all_providers[code], clock=self.clock,
                                             product=options.products.get(code)) for code in wanted}
        codes = sorted({p["insurer_code"] for p in _lines(options.scenario / "policies.jsonl")})
        self.insurer_configs = {c.code: c for c in options.insurers} or {c: InsurerConfig(c) for c in codes}
        journal = options.state_dir / "journal.sqlite" if options.persistent else ":memory:"
        private_file(journal)
        self.journal = Journal(journal)
        self.urls: dict[str, str] = {}
        self.relay_app: Any = None
        self.insurer_apps: dict[str, Any] = {}
        self.register_app: Any = None
        self.provider_apps: dict[str, Any] = {}
        self.agents: dict[str, ProviderAgent] = {}
        self._served: dict[str, Served] = {}
        self.processes: ServerProcesses | None = None  # network(processes=True): the parties' processes
        self._relay_client: httpx.AsyncClient | None = None
        if options.relay_workers < 1:
            raise ValueError("relay_workers: at least 1")

    # -- shared construction ------------------------------------------------------------------------------

    def _db(self, name: str) -> Path | str:
        return self.options.state_dir / f"{name}.sqlite" if self.options.persistent else ":memory:"

    def relay_config(self) -> RelayConfig:
        registrations = []
        for code in self.cores:
            if code in self.options.agents:
                registrations.append(ProviderRegistration(code, Mode.AGENT, source_ip=AGENT_ADDRESS,
                                                          agent_cert_sha256=self.pki["provider-agent"].sha256()))
            else:
                registrations.append(ProviderRegistration(code, Mode.PULL, base_url=self.urls[f"provider:{code}"]))
        ours = {urlsplit(url).hostname or "" for name, url in self.urls.items() if name.startswith("provider:")}
        return RelayConfig(insurers={c: self.urls[f"insurer:{c}"] for c in self.insurer_configs},
                           insurer_cert_sha256={c: self.pki.insurer_client(c).sha256() for c in self.insurer_configs},
                           providers=(*registrations, *self.options.external), callback_base=self.urls["relay"],
                           allowed_provider_hosts=(*sorted(ours), *self.options.allowed_provider_hosts),
                           retry=self.options.retry, shared_database=self.options.relay_workers > 1,
                           lease_seconds=self.options.relay_lease)

    def _provider_urls(self, base: Callable[[str], str]) -> dict[str, str]:
        """``provider:CODE`` → URL of every provider served here: its own server, or its path on the vendor's."""
        if self.tenants:
            return {VENDOR: base(VENDOR)} | {f"provider:{c}": f"{base(VENDOR)}/{c}" for c in self.cores}
        return {f"provider:{c}": base(f"provider:{c}") for c in self.cores if c not in self.options.agents}

    def _servers(self) -> list[str]:
        """The names of the servers this stack runs over the network: relay, insurers, providers (or vendor)."""
        providers = [VENDOR] if self.tenants else [f"provider:{c}" for c in self.cores if c not in self.options.agents]
        return ["relay", REGISTER, *(f"insurer:{c}" for c in self.insurer_configs), *providers]

    def _build(self, relay_client_: httpx.AsyncClient, insurer_client: Callable[[str], httpx.AsyncClient],
               register_client: Callable[[str], httpx.AsyncClient]) -> None:
        for name in self._servers():
            if name.startswith(("provider:", VENDOR)):
                self._provider_app(name)
        self.register_app = create_register_app(self._register(), journal=self.journal)
        for code in self.insurer_configs:
            self._insurer_app(code, insurer_client(code), register_client(code))
        self._relay_client = relay_client_
        self.relay_app = self._new_relay()
        self.load_policies()

    def _provider_app(self, name: str) -> Any:
        if name == VENDOR:
            app = self.provider_apps[VENDOR] = create_vendor_app(self.cores)
        else:
            code = name.split(":", 1)[1]
            app = self.provider_apps[code] = self.options.provider_app(self.cores[code])
        return app

    def _insurer_app(self, code: str, client: httpx.AsyncClient, to_register: httpx.AsyncClient) -> Any:
        """Insurer ``code``; ``to_register`` carries its client certificate to the 중복가입 register."""
        config = dataclasses.replace(self.insurer_configs[code], relay_base=self.urls["relay"])
        register = RegisterClient(to_register, self.urls[REGISTER])
        app = self.insurer_apps[code] = create_insurer_app(config, adjudicator=engine_adjudicator,
                                                           database=self._db(f"insurer-{code}"), http_client=client,
                                                           clock=self.clock, register=register,
                                                           shared=engine_shared_adjudicator)
        return app

    def _register(self) -> ContractRegister:
        """The simulated 중복가입 register: every insurer's policies of the scenario, by identity token."""
        if getattr(self, "_contract_register", None) is None:
            register = ContractRegister()
            tokens = {p["patient_id"]: p["identity_token"]
                      for p in _lines(self.options.scenario / "emr-seed" / "patients.jsonl")}
            for entry in _lines(self.options.scenario / "policies.jsonl"):
                if entry["patient_id"] in tokens:
                    register.add(tokens[entry["patient_id"]], entry["insurer_code"], entry["policy"])
            self._contract_register = register
        return self._contract_register

    def party_app(self, name: str, worker: int = 1) -> Any:
        """Build the one server ``name`` (``relay``, ``insurer:CODE``, ``provider:CODE`` or ``vendor``) for the
        network, with its clients; :attr:`urls` must be set (a party's process builds only its own). Relay
        ``worker`` 2, 3 … journals into ``journal-relay-N.sqlite`` (a journal file has one writer)."""
        pki = self.pki
        if name == "relay":
            if worker > 1:
                self.journal = Journal(worker_journal(self.options.state_dir, worker))
            self._relay_client = relay_client(client_context=pki.client_context("relay-client"),
                                              journal=self.journal, faults=self.options.faults)
            self.relay_app = self._new_relay()
            return self.relay_app
        if name == REGISTER:
            self.register_app = create_register_app(self._register(), journal=self.journal)
            return self.register_app
        kind, _, code = name.partition(":")
        if kind == "insurer":
            client = httpx.AsyncClient(transport=self._to_relay(httpx.AsyncHTTPTransport(
                verify=pki.client_context(f"insurer-client-{code}"))), timeout=5.0)
            to_register = httpx.AsyncClient(verify=pki.client_context(f"insurer-client-{code}"), timeout=5.0)
            app = self._insurer_app(code, client, to_register)
            self.load_policies(only=code)
            return app
        return self._provider_app(name)

    def server_tls(self, name: str) -> ssl.SSLContext:
        """The TLS context server ``name`` listens with: mutual TLS, the relay also taking callers without a
        certificate (its health and whoami are open; every other route refuses them, docs/security.md)."""
        if name == "relay":
            return self.pki.server_context("relay-server", require_client_cert=False, ask_client_cert=True)
        if name == REGISTER:
            return self.pki.server_context("register-server")
        return self.pki.server_context("insurer-server" if name.startswith("insurer:") else "provider-server")

    def _new_relay(self) -> Any:
        return create_relay_app(self.relay_config(), database=self._db("relay"), client=self._relay_client,
                                journal=self.journal, faults=self.options.faults, clock=self.clock)

    def _to_relay(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """Insurers' calls to the relay, where fault rules for party ``relay`` (duplicate or out-of-order
        events …) apply."""
        switch = self.options.faults
        return transport if switch is None else FaultTransport(transport, switch.source, "relay")

    def load_policies(self, only: str | None = None) -> int:
        """Give each insurer built here (or only insurer ``only``) the scenario's policies, matched by the
        patients' identity tokens: one transaction per insurer."""
        tokens = {p["patient_id"]: p["identity_token"]
                  for p in _lines(self.options.scenario / "emr-seed" / "patients.jsonl")}
        wanted: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for entry in _lines(self.options.scenario / "policies.jsonl"):
            code = entry["insurer_code"]
            if code in self.insurer_apps and only in (None, code) and entry["patient_id"] in tokens:
                wanted.setdefault(code, []).append((entry["policy"], tokens[entry["patient_id"]]))
        for code, policies in wanted.items():
            self.insurer_apps[code].state.insurer.store.put_policies(policies)
        return sum(map(len, wanted.values()))

    def claims(self) -> Iterator[dict[str, Any]]:
        """The scenario's claims that travel through a provider served here, in adjudication order."""
        for record in _lines(self.options.scenario / "claims.jsonl"):
            if record["documents_from"] == "provider" and record["claim"]["provider_code"] in self.cores:
                yield record

    def fresh_claim(self, record: dict[str, Any], request_id: str, provider_code: str | None = None
                    ) -> dict[str, Any] | None:
        """``record``'s patient claim as if made now: consent valid from a minute ago for a week, only the
        insurers served here (``provider_code``: addressed to that tenant, a copy of the record's provider).
        None when none of its insurers is served."""
        claim = dict(record["claim"])
        if provider_code is not None:
            claim["provider_code"] = provider_code
        claim["insurers"] = [c for c in claim["insurers"] if c in self.insurer_configs]
        if not claim["insurers"]:
            return None
        granted = self.clock().replace(microsecond=0) - dt.timedelta(minutes=1)
        claim["consent"] = {**claim["consent"], "granted_at": granted.isoformat(),
                            "expires_at": (granted + dt.timedelta(days=7)).isoformat()}
        claim["request_id"] = request_id
        return claim

    @property
    def relay(self) -> Any:
        """The relay engine (``step()``, ``wait_for()``, ``status()``)."""
        return self.relay_app.state.relay

    # -- in-process ----------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def inprocess(self) -> AsyncIterator[Stack]:
        """Run every party in this event loop; calls between them go through ASGI transports."""
        self.urls = {"relay": "https://relay.s24kit.test", REGISTER: "https://register.s24kit.test"}
        self.urls |= {f"insurer:{c}": f"https://insurer-{c.lower()}.s24kit.test" for c in self.insurer_configs}
        self.urls |= self._provider_urls(lambda name: f"https://{name.replace(':', '-')}.s24kit.test")
        router = AsgiRouter({}, certificate=self.pki["relay-client"])
        to_relay = {code: AsgiRouter({}, certificate=self.pki.insurer_client(code)) for code in self.insurer_configs}
        to_register = {code: AsgiRouter({}, certificate=self.pki.insurer_client(code))
                       for code in self.insurer_configs}
        self._build(relay_client(transport=router, journal=self.journal, faults=self.options.faults),
                    lambda code: httpx.AsyncClient(transport=self._to_relay(to_relay[code]), timeout=5.0),
                    lambda code: httpx.AsyncClient(transport=to_register[code], timeout=5.0))
        for each in to_register.values():
            each.add(self.urls[REGISTER], self.register_app)
        for code, app in self.provider_apps.items():
            router.add(self.urls[VENDOR if code == VENDOR else f"provider:{code}"], app)
        for code, app in self.insurer_apps.items():
            router.add(self.urls[f"insurer:{code}"], app)
        for each in to_relay.values():
            each.add(self.urls["relay"], self.relay_app)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self._relay_client.aclose)  # last, once the relay's work loop has stopped
            for app in [self.relay_app, self.register_app, *self.insurer_apps.values(),
                        *self.provider_apps.values()]:
                await stack.enter_async_context(app.router.lifespan_context(app))
            for code in self.options.agents:
                agent_transport = AsgiRouter({self.urls["relay"]: self.relay_app}, client=(AGENT_ADDRESS, 40000),
                                             certificate=self.pki["provider-agent"])
                agent = ProviderAgent(self.cores[code], self.urls["relay"],
                                      httpx.AsyncClient(transport=agent_transport), wait=1.0)
                self.agents[code] = agent
                await stack.enter_async_context(agent.running())
            yield self

    # -- network ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def network(self, *, processes: bool = False) -> Iterator[Stack]:
        """Serve every party on loopback over (mutual) TLS, each in its own thread — or, with ``processes``,
        each in its own process (simulator/processes.py; then the apps and the relay engine live in those
        processes, not here: use the URLs, the journal and the state files); stop them all at the end."""
        if self.options.relay_workers > 1 and not processes:
            raise ValueError("relay_workers: several relay workers run in processes (network(processes=True))")
        host, ports = self.options.host, self.options.ports
        shown = f"[{host}]" if ":" in host else host
        names = self._servers()
        sockets = {}
        try:
            for name in names:
                sockets[name] = bind(host, ports.get(name, 0), _config_key(name))
        except Exception:
            for sock in sockets.values():
                sock.close()
            raise
        self.urls = {name: f"https://{shown}:{sock.getsockname()[1]}" for name, sock in sockets.items()
                     if not name.startswith("provider:")}
        self.urls |= self._provider_urls(lambda name: f"https://{shown}:{sockets[name].getsockname()[1]}")
        if processes:
            for code in self.insurer_configs:  # made here once: the processes would race to write them
                self.pki.insurer_client(code)
            workers = self.options.relay_workers
            if workers > 1 and self.options.persistent:  # none runs yet: what a crashed run held is free again
                store = RelayStore(self._db("relay"))
                store.release_leases()
                store.close()
            specs = [ServerSpec(name, "s24kit.simulator.stack:party_server", (self.options, self.urls, name),
                                sockets[name]) for name in names if name != "relay"]
            # the relay's workers share its socket (the kernel hands each connection to one of them)
            specs[:0] = [ServerSpec("relay" if n == 1 else f"relay-{n}", "s24kit.simulator.stack:party_server",
                                    (self.options, self.urls, "relay", n), sockets["relay"])
                         for n in range(1, workers + 1)]
            sockets.clear()
            with serving_in_processes(specs) as self.processes, self._agents_in_background():
                yield self
            return
        # insurers first: the relay registers them, and providers before the relay that calls them
        order = sorted(names, key=lambda name: name == "relay")
        apps = {name: self.party_app(name) for name in order}
        try:
            for name in order:
                self._served[name] = start(apps[name], tls=self.server_tls(name), name=name.replace(":", "-"),
                                           sock=sockets.pop(name))
            with self._agents_in_background():
                yield self
        finally:
            for sock in sockets.values():
                sock.close()
            for served in reversed(list(self._served.values())):
                served.stop()
            self._served.clear()

    @contextlib.contextmanager
    def _agents_in_background(self) -> Iterator[None]:
        if not self.options.agents:
            yield
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="s24kit-agents", daemon=True)
        thread.start()
        tasks = []
        for code in self.options.agents:
            client = httpx.AsyncClient(verify=self.pki.client_context("provider-agent"), timeout=10.0)
            agent = ProviderAgent(self.cores[code], self.urls["relay"], client, wait=1.0)
            self.agents[code] = agent
            tasks.append(asyncio.run_coroutine_threadsafe(agent.run(), loop))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

    def restart_relay(self) -> None:
        """Stop the relay server abruptly and start a new relay process-equivalent on the same port and
        database — what a crash and restart looks like to the other parties (network mode)."""
        if self.processes is not None:
            raise RuntimeError("restart_relay: the relay runs in its own process here (network(processes=True))")
        old = self._served.pop("relay")
        old.server.force_exit = True
        old.stop()
        self._served["relay"] = start(self.party_app("relay"), tls=self.server_tls("relay"), name="relay",
                                      host=old.host, port=old.port)


def party_server(options: StackOptions, urls: dict[str, str], name: str,
                 worker: int = 1) -> tuple[Any, ssl.SSLContext]:
    """Party ``name`` (relay ``worker`` N) of the stack ``options`` describe, and its TLS context: what a
    party's process serves (:mod:`.processes`, ``network(processes=True)``)."""
    stack = Stack(options)
    stack.urls = dict(urls)
    if name == REGISTER and options.persistent:  # a journal file has one writer: the relay's is the relay's
        stack.journal = Journal(register_journal(options.state_dir))
    return stack.party_app(name, worker), stack.server_tls(name)


def register_journal(state_dir: Path) -> Path:
    """The journal file of the 중복가입 register when it runs in its own process."""
    path = state_dir / "journal-register.sqlite"
    private_file(path)
    return path


def worker_journal(state_dir: Path, worker: int) -> Path:
    """The journal file of relay worker ``worker`` (the first writes ``journal.sqlite``)."""
    path = state_dir / ("journal.sqlite" if worker == 1 else f"journal-relay-{worker}.sqlite")
    private_file(path)
    return path
