"""``s24kit serve --config FILE``: the TOML that sets ports, insurers, behaviours, faults and providers.

```toml
state_dir = ".s24kit"            # certificates, databases, journal, generated scenario
host = "127.0.0.1"
scenario = "scenario/"           # optional; default: generated into state_dir/scenario
[generate]                       # used when no scenario is given
patients = 20
seed = 1
[relay]
port = 18443
allowed_provider_hosts = ["192.0.2.10"]  # hosts besides loopback a provider's base_url may name
[[insurer]]
code = "INSA"
port = 18444
behaviour = "pay"                # pay, deny, pend, more_documents, slow, unavailable, ack_twice
[[provider]]                     # the kit's reference provider
reference = true
mode = "pull"                    # or "agent"
port = 18446
product = {vendor = "ExampleEMR", name = "ExampleEMR 병원", version = "2.3.1"}  # what its health names
[[provider]]                     # a connector under test, registered with the relay
code = "99350012"
mode = "pull"
base_url = "https://192.0.2.10:8443"
[faults]                         # a fault plan (same shape as fixtures/faults/*.toml)
seed = 7
[[faults.fault]]
kind = "latency"
party = "provider:*"
ms = 200
```
Every mistake is a :class:`~s24kit.simulator.relay.ConfigError` naming the key, in Korean and English.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schemas.loader import is_valid
from .faults import FaultPlan, FaultPlanError, FaultSwitch
from .insurer.config import InsurerConfig
from .provider.vendor import VENDOR
from .relay import ConfigError, ProviderRegistration
from .relay.config import check_provider_host

DEFAULT_PORTS = {"relay": 18443, "insurer": 18444, "provider": 18450}
DEFAULT_INSURERS = ("INSA", "INSB")
TOP_LEVEL = {"state_dir", "host", "scenario", "generate", "relay", "insurer", "provider", "faults"}


@dataclass
class ServeConfig:
    """Everything ``s24kit serve`` needs, with defaults for zero configuration."""

    state_dir: Path = Path(".s24kit")
    host: str = "127.0.0.1"
    scenario: Path | None = None
    patients: int = 20
    seed: int = 1
    relay_port: int = DEFAULT_PORTS["relay"]
    insurers: list[InsurerConfig] = field(default_factory=lambda: [InsurerConfig(c) for c in DEFAULT_INSURERS])
    insurer_ports: dict[str, int] = field(default_factory=dict)
    reference_mode: str = "pull"
    reference_code: str | None = None
    reference_port: int = DEFAULT_PORTS["provider"]
    reference_product: dict[str, str] | None = None  # health's product (None: the kit's own)
    external: list[ProviderRegistration] = field(default_factory=list)
    allowed_provider_hosts: tuple[str, ...] = ()
    faults: FaultSwitch = field(default_factory=FaultSwitch)

    def ports(self, provider_code: str) -> dict[str, int]:
        # the reference provider's port, whether it serves one provider or, as a vendor, many (--tenants)
        ports = {"relay": self.relay_port, f"provider:{provider_code}": self.reference_port,
                 VENDOR: self.reference_port}
        for i, insurer in enumerate(self.insurers):
            ports[f"insurer:{insurer.code}"] = self.insurer_ports.get(insurer.code, DEFAULT_PORTS["insurer"] + i)
        return ports


def serve_config_from(data: dict[str, Any], base: Path) -> ServeConfig:
    """The configuration in ``data`` (the parsed TOML); relative paths in it are relative to ``base``."""
    _known(data, TOP_LEVEL, "")
    config = ServeConfig()
    config.state_dir = base / _typed(data, "state_dir", str, ".s24kit")
    config.host = _typed(data, "host", str, config.host)
    if "scenario" in data:
        config.scenario = base / _typed(data, "scenario", str, "")
    generate = _table(data, "generate")
    _known(generate, {"patients", "seed"}, "generate.")
    config.patients = _port_like(generate, "generate.patients", config.patients, 1, 10_000)
    config.seed = _typed(generate, "seed", int, config.seed, "generate.seed")
    relay = _table(data, "relay")
    _known(relay, {"port", "allowed_provider_hosts"}, "relay.")
    config.relay_port = _port_like(relay, "relay.port", config.relay_port)
    hosts = relay.get("allowed_provider_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h and "/" not in h for h in hosts):
        raise ConfigError("relay.allowed_provider_hosts", "호스트 이름이나 IP 주소의 배열이어야 합니다",
                          "must be an array of host names or IP addresses")
    config.allowed_provider_hosts = tuple(hosts)
    if "insurer" in data:
        config.insurers, config.insurer_ports = [], {}
        for i, entry in enumerate(_list(data, "insurer")):
            where = f"insurer[{i}]"
            entry = dict(entry)
            port = _port_like(entry, f"{where}.port", DEFAULT_PORTS["insurer"] + i)
            entry.pop("port", None)
            try:
                insurer = InsurerConfig.from_dict(entry)
            except (ValueError, TypeError) as exc:
                raise ConfigError(where, f"보험사 설정 오류: {exc}", f"insurer setting: {exc}") from None
            config.insurers.append(insurer)
            config.insurer_ports[insurer.code] = port
        if not config.insurers:
            raise ConfigError("insurer", "보험사가 하나 이상 필요합니다", "at least one insurer is needed")
    for i, entry in enumerate(_list(data, "provider") if "provider" in data else []):
        where = f"provider[{i}]"
        if entry.get("reference"):
            _known(entry, {"reference", "mode", "port", "code", "product"}, f"{where}.")
            config.reference_mode = entry.get("mode", "pull")
            if config.reference_mode not in ("pull", "agent"):
                raise ConfigError(f"{where}.mode", "pull 또는 agent 여야 합니다", "must be pull or agent")
            config.reference_port = _port_like(entry, f"{where}.port", config.reference_port)
            config.reference_code = entry.get("code")
            if "product" in entry:
                config.reference_product = _product(entry["product"], f"{where}.product")
        else:
            registration = ProviderRegistration.from_dict(entry, where)
            check_provider_host(registration, config.allowed_provider_hosts, where)
            config.external.append(registration)
    if "faults" in data:
        try:
            config.faults = FaultSwitch(FaultPlan.from_dict(_table(data, "faults")))
        except FaultPlanError as exc:
            raise ConfigError(f"faults.{exc.where}", exc.message_ko, exc.message_en) from None
    return config


def _product(value: Any, where: str) -> dict[str, str]:
    """The ``product`` of a reference provider, checked against health.schema.json's ``product``."""
    if not is_valid("health", {"status": "ok", "profile": "kit-v1", "provider_code": "99310001", "product": value}):
        raise ConfigError(where, "vendor, name, version 세 문자열로 된 표여야 합니다 (예: {vendor = \"ExampleEMR\", "
                                 "name = \"ExampleEMR 병원\", version = \"2.3.1\"})",
                          "must be a table of three strings vendor, name, version (e.g. {vendor = \"ExampleEMR\", "
                          "name = \"ExampleEMR 병원\", version = \"2.3.1\"})")
    return dict(value)


def _known(data: dict[str, Any], known: set[str], prefix: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}", f"알 수 없는 설정입니다 (사용 가능: {', '.join(sorted(known))})",
                              f"unknown setting (use {', '.join(sorted(known))})")


def _typed(data: dict[str, Any], key: str, kind: type, default: Any, where: str | None = None) -> Any:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        name = {str: ("문자열이어야", "a string"), int: ("정수여야", "an integer")}[kind]
        raise ConfigError(where or key, f"{name[0]} 합니다 (받은 값 {value!r})",
                          f"must be {name[1]} (got {value!r})")
    return value


def _port_like(data: dict[str, Any], where: str, default: int, low: int = 0, high: int = 65535) -> int:
    value = _typed(data, where.rsplit(".", 1)[-1], int, default, where)
    if not low <= value <= high:
        raise ConfigError(where, f"{low}~{high} 사이여야 합니다 (받은 값 {value})",
                          f"must be from {low} to {high} (got {value})")
    return value


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, "[표] 형식이어야 합니다", "must be a [table]")
    return value


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(key, f"[[{key}]] 표 배열이어야 합니다", f"must be an array of tables [[{key}]]")
    return value
