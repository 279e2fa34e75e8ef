"""A fleet of simulated sites from one process on loopback: what ``s24kit serve --fleet N`` serves.

Each site is a reference provider with a provider code of its own, its own port, and the product version it
names in its health answer. Most sites are correct; a seeded share carries exactly one defect each, one of
:data:`DEFECTS`, and :data:`EXPECTED_FAILURE` says which requirement of the site check it must fail. The
sites' data come from one small generated scenario: the visits of one of its providers (the template),
copied under each site's code into the fleet's own scenario directory, which the site check reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fixtures import fixture_path
from .faults import FaultPlan, FaultSwitch
from .faults.server import FaultMiddleware
from .generator.context import Options
from .generator.scenario import write_scenario
from .pki import TestPKI, ensure_pki
from .private import private_directory
from .provider import ProviderCore, Scenario, create_provider_app
from .serving import Served, bind, start

#: The defects a fleet site may carry, and the requirement of the site check each must fail.
EXPECTED_FAILURE = {
    "faulty_provider": "S24-API-003",  # a fault plan answers every document fetch 503
    "expiring_certificate": "S24-TLS-013",  # the server certificate expires in EXPIRING_DAYS days
    "wrong_name_certificate": "S24-TLS-012",  # the certificate names another host
    "closed_port": "S24-NET-002",  # nothing listens on the registered port
    "uncertified_version": "S24-API-017",  # the site runs a product version not certified
}
DEFECTS = tuple(EXPECTED_FAILURE)
EXPIRING_DAYS = 10
#: (vendor, product, certified version, uncertified version): synthetic EMR products, one per vendor.
PRODUCTS = (("가상의료정보", "온누리EMR", "3.2.1", "3.3.0-rc1"), ("SimHealth", "SimChart", "5.0.4", "5.1.0-beta"))
BASE_PATIENTS = 12  # patients of the generated scenario the template provider is taken from
MAX_SITES = 2_000


@dataclass
class FleetSite:
    """One simulated site: what the relay registers about it, and the defect it was given (None: correct)."""

    provider_code: str
    name: str
    facility_type: str
    region: str  # 시도 code (fixtures/people/addresses.json)
    vendor: str
    product: str
    product_version: str
    url: str
    server_cert_sha256: str
    defect: str | None = None
    port: int = 0

    @property
    def product_triple(self) -> tuple[str, str, str]:
        return self.vendor, self.product, self.product_version

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class FleetOptions:
    count: int
    state_dir: Path
    seed: int = 1
    defect_share: float = 0.2  # share of sites with one defect (rounded; the kinds in turn)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SITES:
            raise ValueError(f"fleet size {self.count}: between 1 and {MAX_SITES}")
        if not 0 <= self.defect_share <= 1:
            raise ValueError(f"defect share {self.defect_share}: between 0 and 1")


@dataclass
class Fleet:
    """The sites, their scenario and PKI; :meth:`serving` runs them."""

    options: FleetOptions
    pki: TestPKI
    scenario: Path
    sites: list[FleetSite]
    certified: frozenset[tuple[str, str, str]]
    _apps: dict[str, tuple[Any, ssl.SSLContext | None]] = field(default_factory=dict)

    @contextlib.contextmanager
    def serving(self) -> Iterator[Fleet]:
        """Start every site (a closed-port site holds its port bound but not listening), stop them all after."""
        served: list[Served] = []
        held: list[socket.socket] = []
        try:
            for site in self.sites:
                app, tls = self._apps[site.provider_code]
                if app is None:
                    sock = socket.socket(socket.AF_INET6 if ":" in self.options.host else socket.AF_INET)
                    sock.bind((self.options.host, 0))  # bound, never listening: connections are refused
                    held.append(sock)
                    site.port = sock.getsockname()[1]
                else:
                    listener = bind(self.options.host, 0, f"site {site.provider_code}")
                    site.port = listener.getsockname()[1]
                    served.append(start(app, host=self.options.host, tls=tls, sock=listener,
                                        name=f"site-{site.provider_code}"))
                shown = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
                site.url = f"https://{shown}:{site.port}"
            yield self
        finally:
            for server in served:
                server.server.should_exit = True
            for server in served:
                server.thread.join(5.0)
            for sock in held:
                sock.close()

    def answer_key(self) -> dict[str, Any]:
        """The fleet as JSON: every site with its defect, the certified versions, CA and scenario paths."""
        return {"scenario": str(self.scenario), "ca": str(self.pki.ca_cert),
                "certified": sorted("/".join(p) for p in self.certified),
                "sites": [site.as_json() for site in self.sites]}


def build_fleet(options: FleetOptions) -> Fleet:
    """Certificates, scenario and apps of ``options.count`` sites (nothing listens until :meth:`Fleet.serving`)."""
    root = options.state_dir / "fleet"
    private_directory(root)
    pki = ensure_pki(options.state_dir / "pki")
    template = _template(root / "base", options.seed)
    rng = random.Random(options.seed)
    defective = sorted(rng.sample(range(options.count), round(options.count * options.defect_share)))
    defects = {index: DEFECTS[turn % len(DEFECTS)] for turn, index in enumerate(defective)}
    codes = [f"{template.provider_code[:3]}{90000 + i:05d}" for i in range(options.count)]
    scenario = _write_scenario(root / "scenario", template, codes)
    providers = Scenario.load_all(scenario)
    facility = _facility_type(template)
    regions = _regions()
    default_tls = pki.server_context("provider-server")
    default_pin = pki["provider-server"].sha256()
    sites, apps = [], {}
    for i, code in enumerate(codes):
        vendor, product, good, bad = PRODUCTS[i % len(PRODUCTS)]
        defect = defects.get(i)
        version = bad if defect == "uncertified_version" else good
        tls, pin = default_tls, default_pin
        if defect in ("expiring_certificate", "wrong_name_certificate"):
            credential = pki.site_server(
                f"fleet-{code}", lifetime=dt.timedelta(days=EXPIRING_DAYS if defect == "expiring_certificate" else 365),
                hosts=("wrong-name.s24kit.invalid",) if defect == "wrong_name_certificate" else ("localhost",
                                                                                              options.host))
            tls, pin = pki.server_context(f"site-fleet-{code}"), credential.sha256()
        core = ProviderCore(providers[code], product={"vendor": vendor, "name": product, "version": version})
        app: Any = create_provider_app(core)
        if defect == "faulty_provider":
            plan = FaultPlan.from_dict({"seed": options.seed, "fault": [
                {"kind": "error_status", "party": "provider:*", "route": "/s24/v1/documents:fetch", "status": 503}]})
            app = FaultMiddleware(app, FaultSwitch(plan).source, f"provider:{code}")
        apps[code] = (None, None) if defect == "closed_port" else (app, tls)
        region, region_name = regions[i % len(regions)]
        sites.append(FleetSite(code, f"시뮬레이션 {region_name[:2]} 의원 {i + 1:04d}", facility, region, vendor,
                               product, version, "", pin, defect))
    certified = frozenset((vendor, product, good) for vendor, product, good, _ in PRODUCTS)
    return Fleet(options, pki, scenario, sites, certified, apps)


def _template(base: Path, seed: int) -> Scenario:
    """The provider whose visits every site serves: the one with the fewest visits of a small scenario."""
    if not (base / "expected" / "index.jsonl").is_file():
        write_scenario(base, Options(patients=BASE_PATIENTS, seed=seed).resolved(), force=True)
    providers = Scenario.load_all(base)
    return min(providers.values(), key=lambda s: (len(s.visits), s.provider_code))


def _regions() -> list[tuple[str, str]]:
    """(시도 code, name) of every region, in the order of the shipped list."""
    document = json.loads(fixture_path("people", "addresses.json").read_text(encoding="utf-8"))
    return [(entry["code"], entry["sido"]) for entry in document["data"]]


def _facility_type(template: Scenario) -> str:
    for line in (template.directory / "emr-seed" / "providers.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["provider_code"] == template.provider_code:
            return str(record["facility_type"])
    return "31"


def _write_scenario(directory: Path, template: Scenario, codes: list[str]) -> Path:
    """The template's visits, documents and patients under each site's code (the code rewritten in place)."""
    (directory / "expected").mkdir(parents=True, exist_ok=True)
    (directory / "emr-seed").mkdir(parents=True, exist_ok=True)
    old = template.provider_code
    visits = [json.dumps(v, ensure_ascii=False) for v in template.visits.values()]
    documents = [json.dumps(d, ensure_ascii=False) for docs in template.documents.values() for d in docs]
    with (directory / "expected" / "index.jsonl").open("w", encoding="utf-8") as index, \
            (directory / "expected" / "documents.jsonl").open("w", encoding="utf-8") as docs:
        for code in codes:
            index.writelines(line.replace(old, code) + "\n" for line in visits)
            docs.writelines(line.replace(old, code) + "\n" for line in documents)
    patients = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in template.patients.values())
    (directory / "emr-seed" / "patients.jsonl").write_text(patients, encoding="utf-8")
    return directory
