"""Where the suite listens for an agent (``host:port``): one rule for ``s24kit check --listen`` and the console."""

from __future__ import annotations

import ipaddress
import re

_HOST_NAME = re.compile(r"(?=.{1,253}$)([0-9A-Za-z]([0-9A-Za-z-]{0,61}[0-9A-Za-z])?)"
                        r"(\.[0-9A-Za-z]([0-9A-Za-z-]{0,61}[0-9A-Za-z])?)*\.?")


def listen_refusal(name: str, listen: str, *, any_port: bool = False) -> tuple[str, str] | None:
    """Why ``listen`` (of the field or option ``name``) is not where the suite can wait for an agent — host:port,
    the host an IP address (an IPv6 one in brackets) or a host name, the port 1–65535 (0 too with ``any_port``:
    any free port, said once it listens) — in Korean and English, or None."""
    host, colon, port = listen.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            good_host = ipaddress.ip_address(host).version == 6
        except ValueError:
            good_host = False
    else:
        good_host = ":" not in host and bool(_HOST_NAME.fullmatch(host))
    if not colon or not good_host or not port.isascii() or not port.isdigit():
        return (f"{name} '{listen}'는 호스트:포트 형식이어야 합니다 (예: 127.0.0.1:18443, [::1]:18443)",
                f"{name} '{listen}' must be host:port (e.g. 127.0.0.1:18443, [::1]:18443)")
    if not (0 if any_port else 1) <= int(port) <= 65535:
        span = "0–65535" if any_port else "1–65535"
        return (f"{name} '{listen}'의 포트는 {span}여야 합니다 (예: 127.0.0.1:18443)",
                f"{name} '{listen}': the port must be {span} (e.g. 127.0.0.1:18443)")
    return None
