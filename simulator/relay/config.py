"""What the relay knows about its parties: the provider registry, the insurers, and its retry policy."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ..retry import RetryPolicy


class Mode(StrEnum):
    PULL = "pull"  # the relay calls the provider's endpoints (inbound firewall opening at the clinic)
    AGENT = "agent"  # the provider's agent polls the relay (outbound only)


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field, in Korean and English."""

    def __init__(self, field_name: str, message_ko: str, message_en: str) -> None:
        super().__init__(f"{field_name}: {message_ko} / {message_en}")
        self.field, self.message_ko, self.message_en = field_name, message_ko, message_en


@dataclass(frozen=True, slots=True)
class ProviderRegistration:
    """One registered 요양기관: where and how to reach it, and who may speak for it."""

    code: str
    mode: Mode = Mode.PULL
    base_url: str | None = None  # pull mode: https://host:port of the connector
    server_cert_sha256: str | None = None  # pull mode: pin of the connector's certificate (hex), optional
    source_ip: str | None = None  # agent mode: the registered fixed address the agent connects from
    agent_cert_sha256: str | None = None  # agent mode: the agent's client certificate (hex SHA-256 of DER)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "provider") -> ProviderRegistration:
        known = {"code", "mode", "base_url", "server_cert_sha256", "source_ip", "agent_cert_sha256"}
        _no_unknown(data, known, where)
        if not isinstance(data.get("code"), str) or len(data["code"]) != 8 or not data["code"].isdigit():
            raise ConfigError(f"{where}.code", "요양기관기호는 숫자 8자리여야 합니다", "code must be 8 digits")
        try:
            mode = Mode(data.get("mode", "pull"))
        except ValueError:
            raise ConfigError(f"{where}.mode", "pull 또는 agent 여야 합니다", "must be pull or agent") from None
        if mode is Mode.PULL and not str(data.get("base_url", "")).startswith(("https://", "http://")):
            raise ConfigError(f"{where}.base_url", "pull 방식에는 https:// 주소가 필요합니다",
                              "pull mode needs the connector's https:// base URL")
        if mode is Mode.AGENT:
            # without both, any provider-agent certificate from anywhere could speak for this provider
            for required in ("source_ip", "agent_cert_sha256"):
                if data.get(required) is None:
                    raise ConfigError(f"{where}.{required}", "agent 방식에는 source_ip 와 agent_cert_sha256 가 모두 "
                                      "필요합니다", "agent mode needs both source_ip and agent_cert_sha256")
        if data.get("source_ip") is not None:
            try:
                ipaddress.ip_address(data["source_ip"])
            except ValueError:
                raise ConfigError(f"{where}.source_ip", "IP 주소가 아닙니다", "not an IP address") from None
        for pin in ("server_cert_sha256", "agent_cert_sha256"):
            value = data.get(pin)
            if value is not None and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower())):
                raise ConfigError(f"{where}.{pin}", "SHA-256 16진수 64자여야 합니다", "must be 64 hex digits (SHA-256)")
        return cls(data["code"], mode, data.get("base_url"), _lower(data.get("server_cert_sha256")),
                   data.get("source_ip"), _lower(data.get("agent_cert_sha256")))

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "mode": self.mode.value, "base_url": self.base_url,
                "server_cert_sha256": self.server_cert_sha256, "source_ip": self.source_ip,
                "agent_cert_sha256": self.agent_cert_sha256}


@dataclass(frozen=True, slots=True)
class RelayConfig:
    insurers: dict[str, str] = field(default_factory=dict)  # insurer code → base URL
    #: insurer code → SHA-256 of the client certificate its events must come with (docs/security.md)
    insurer_cert_sha256: dict[str, str] = field(default_factory=dict)
    providers: tuple[ProviderRegistration, ...] = ()
    #: hosts a provider's base_url may name besides loopback (``[relay] allowed_provider_hosts`` of serve)
    allowed_provider_hosts: tuple[str, ...] = ()
    callback_base: str = "http://relay.test"  # how insurers reach the relay's event endpoint
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # then the dead-letter state
    request_timeout: float = 10.0  # per call to a provider or insurer
    agent_deadline: float = 30.0  # how long an agent has to answer a queued request
    max_body_bytes: int = 8 * 1024 * 1024
    #: other relay workers use the same database (``s24kit serve --relay-workers N``): tasks are taken with a lease
    #: that the others respect, and changes they commit wake this worker's long polls (docs/performance.md §4)
    shared_database: bool = False
    lease_seconds: float = 15.0  # how long a worker holds a task it runs; renewed while it runs


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """True when ``url``'s host is loopback (127.0.0.0/8, ::1, localhost) or one of ``allowed``."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host == "localhost" or host in {h.lower() for h in allowed}:
        return bool(host)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_provider_host(registration: ProviderRegistration, allowed: tuple[str, ...],
                        where: str = "provider") -> None:
    """ConfigError naming ``base_url`` when the relay may not call that host (outbound only to configured hosts)."""
    if registration.base_url is not None and not host_allowed(registration.base_url, allowed):
        listed = ", ".join(allowed) or "(없음 / none)"
        raise ConfigError(f"{where}.base_url", f"루프백이나 허용된 호스트가 아닙니다 (허용: {listed}); s24kit serve "
                          "설정의 [relay] allowed_provider_hosts 에 추가하십시오",
                          f"not loopback nor an allowed host (allowed: {listed}); add it to [relay] "
                          "allowed_provider_hosts in the s24kit serve configuration")


def _no_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", f"알 수 없는 설정입니다 (사용 가능: {', '.join(sorted(known))})",
                          f"unknown setting (use {', '.join(sorted(known))})")


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None
