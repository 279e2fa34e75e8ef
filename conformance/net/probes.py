"""Network probes: name resolution and TCP connect, each classified by the reason the kernel gives.

A TCP failure is told apart as precisely as one side can: a reset (closed port, or REJECT with tcp
reset), an ICMP error and who sent it (read from the socket's error queue with ``IP_RECVERR`` on Linux:
port unreachable, administratively prohibited, host or network unreachable), no local route, a local
block, or silence until the deadline (a DROP rule, a dead path, or a source-address allow-list).
Every probe has an explicit deadline; nothing waits for the operating system's minutes-long defaults.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum

# Linux values (the socket module lacks the names on 3.11).
IP_RECVERR, IPV6_RECVERR = 11, 25
SO_EE_ORIGIN_LOCAL, SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 1, 2, 3
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err
MAX_ADDRESSES = 8  # a name with more addresses is probed on its first eight only


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- DNS


class DnsStatus(StrEnum):
    OK = "ok"
    LITERAL = "literal"  # an IP address: nothing to resolve
    NXDOMAIN = "nxdomain"  # the name does not exist
    NO_ADDRESS = "no_address"  # the name exists, without an address record
    NO_ANSWER = "no_answer"  # the DNS server did not answer usefully (unreachable, SERVFAIL, refused)
    TIMEOUT = "timeout"  # no result before our deadline
    ERROR = "error"  # anything else (an invalid name …)


# getaddrinfo error numbers: glibc/musl EAI_* and Windows WSA* (socket.gaierror.errno).
_EAI = {
    "NXDOMAIN": {getattr(socket, "EAI_NONAME", -2), 11001},
    "NO_ADDRESS": {getattr(socket, "EAI_NODATA", -5), getattr(socket, "EAI_ADDRFAMILY", -9), 11004},
    "NO_ANSWER": {getattr(socket, "EAI_AGAIN", -3), getattr(socket, "EAI_FAIL", -4), 11002, 11003},
}


@dataclass(frozen=True, slots=True)
class DnsResult:
    """What resolving ``name`` gave: addresses in the resolver's preference order, or why not."""

    name: str
    status: DnsStatus
    addresses: tuple[str, ...]
    error: str | None
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return self.status in (DnsStatus.OK, DnsStatus.LITERAL)


def resolve(name: str, port: int = 443, timeout: float = 3.0) -> DnsResult:
    """Resolve ``name`` with the system resolver (what the clinic's software uses), bounded by ``timeout``."""
    start = time.monotonic()
    bare = name.strip("[]")
    if is_ip(bare):
        return DnsResult(name, DnsStatus.LITERAL, (bare,), None, 0.0)
    box: dict[str, object] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # gaierror is an OSError
            box["error"] = exc
        done.set()

    # getaddrinfo has no timeout of its own; a daemon thread may outlive us without holding up exit.
    threading.Thread(target=work, name="s24kit-dns", daemon=True).start()
    if not done.wait(timeout):
        return DnsResult(name, DnsStatus.TIMEOUT, (), f"no answer within {timeout:g} s", _ms(start))
    error = box.get("error")
    if isinstance(error, BaseException):
        return DnsResult(name, _dns_status(error), (), f"{type(error).__name__}: {error}", _ms(start))
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in box["infos"]))  # type: ignore[union-attr]
    return DnsResult(name, DnsStatus.OK, addresses, None, _ms(start))


def _dns_status(error: BaseException) -> DnsStatus:
    if isinstance(error, socket.gaierror):
        for status, codes in _EAI.items():
            if error.errno in codes:
                return DnsStatus[status]
    return DnsStatus.ERROR


# ---------------------------------------------------------------- TCP


class TcpStatus(StrEnum):
    OPEN = "open"
    REFUSED = "refused"  # TCP reset: nothing listening, or REJECT with tcp reset
    PORT_UNREACHABLE = "port_unreachable"  # ICMP port unreachable: REJECT (iptables' default)
    ADMIN_PROHIBITED = "admin_prohibited"  # ICMP administratively prohibited: a firewall said no
    HOST_UNREACHABLE = "host_unreachable"  # ICMP host unreachable, or no ARP/ND answer on the link
    NET_UNREACHABLE = "net_unreachable"  # a router answered "network unreachable"
    NO_ROUTE = "no_route"  # this machine has no route to the address
    FILTERED = "filtered"  # no answer before the deadline: DROP, dead path, source allow-list
    LOCAL_BLOCKED = "local_blocked"  # this machine's own firewall or policy refused to send
    ERROR = "error"


# ICMP (type 3) and ICMPv6 (type 1) destination-unreachable codes → what they mean for us.
_ICMP4 = {0: TcpStatus.NET_UNREACHABLE, 6: TcpStatus.NET_UNREACHABLE, 11: TcpStatus.NET_UNREACHABLE,
          1: TcpStatus.HOST_UNREACHABLE, 7: TcpStatus.HOST_UNREACHABLE, 12: TcpStatus.HOST_UNREACHABLE,
          3: TcpStatus.PORT_UNREACHABLE,
          9: TcpStatus.ADMIN_PROHIBITED, 10: TcpStatus.ADMIN_PROHIBITED, 13: TcpStatus.ADMIN_PROHIBITED}
_ICMP6 = {0: TcpStatus.NET_UNREACHABLE, 3: TcpStatus.HOST_UNREACHABLE, 4: TcpStatus.PORT_UNREACHABLE,
          1: TcpStatus.ADMIN_PROHIBITED, 5: TcpStatus.ADMIN_PROHIBITED, 6: TcpStatus.ADMIN_PROHIBITED}
_ICMP4_NAMES = {0: "net unreachable", 1: "host unreachable", 3: "port unreachable", 6: "net unknown",
                7: "host unknown", 9: "net administratively prohibited", 10: "host administratively prohibited",
                11: "net unreachable for TOS", 12: "host unreachable for TOS",
                13: "communication administratively prohibited"}
_ICMP6_NAMES = {0: "no route to destination", 1: "administratively prohibited", 3: "address unreachable",
                4: "port unreachable", 5: "source address failed policy", 6: "reject route to destination"}
_ERRNO = {errno.ECONNREFUSED: TcpStatus.REFUSED, errno.EHOSTUNREACH: TcpStatus.HOST_UNREACHABLE,
          errno.ENETUNREACH: TcpStatus.NO_ROUTE, errno.ETIMEDOUT: TcpStatus.FILTERED,
          errno.EACCES: TcpStatus.LOCAL_BLOCKED, errno.EPERM: TcpStatus.LOCAL_BLOCKED,
          errno.EADDRNOTAVAIL: TcpStatus.NO_ROUTE}


@dataclass(frozen=True, slots=True)
class IcmpError:
    """An ICMP error queued on the socket: who sent it and what it said."""

    version: int  # 4 or 6
    type: int
    code: int
    offender: str | None

    @property
    def label(self) -> str:
        names = _ICMP4_NAMES if self.version == 4 else _ICMP6_NAMES
        kind = "ICMP" if self.version == 4 else "ICMPv6"
        name = names.get(self.code, "destination unreachable") if self.type in (3, 1) else f"type {self.type}"
        sender = f" from {self.offender}" if self.offender else ""
        return f"{kind} {self.type}/{self.code} {name}{sender}"

    def as_json(self) -> dict[str, object]:
        return {"version": self.version, "type": self.type, "code": self.code, "offender": self.offender,
                "label": self.label}


@dataclass(frozen=True, slots=True)
class TcpResult:
    """One TCP connection attempt to ``address:port``."""

    address: str
    port: int
    status: TcpStatus
    errno: int | None
    error: str | None
    icmp: IcmpError | None
    local_address: str | None  # the source address this machine used
    elapsed_ms: float
    timeout: float

    @property
    def ok(self) -> bool:
        return self.status is TcpStatus.OPEN

    @property
    def endpoint(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    def describe(self) -> str:
        """A technical one-liner: the errno, the ICMP message, or the deadline."""
        if self.status is TcpStatus.OPEN:
            return f"{self.endpoint} open ({self.elapsed_ms:g} ms)"
        if self.status is TcpStatus.FILTERED:
            return f"{self.endpoint}: no answer within {self.timeout:g} s"
        reason = self.icmp.label if self.icmp else (self.error or self.status.value)
        return f"{self.endpoint}: {reason}"

    def as_json(self) -> dict[str, object]:
        return {"address": self.address, "port": self.port, "status": self.status.value,
                "errno": errno.errorcode.get(self.errno, str(self.errno)) if self.errno else None,
                "icmp": self.icmp.as_json() if self.icmp else None, "local_address": self.local_address,
                "elapsed_ms": self.elapsed_ms}


def tcp_connect(address: str, port: int, timeout: float = 3.0) -> TcpResult:
    """Try one TCP connection (then close it) and classify the outcome; never waits past ``timeout``."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    start = time.monotonic()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _ask_for_icmp(sock, family)
        sock.setblocking(False)
        code = sock.connect_ex((address, port))
        if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, getattr(errno, "WSAEWOULDBLOCK", -1)):
            _, writable, failed = select.select([], [sock], [sock], timeout)
            if not writable and not failed:
                return _result(sock, address, port, TcpStatus.FILTERED, None, start, timeout)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            return _result(sock, address, port, TcpStatus.OPEN, None, start, timeout)
        icmp = _icmp_error(sock, family)
        status = _classify(code, icmp)
        return _result(sock, address, port, status, code, start, timeout, icmp)
    except OSError as exc:  # e.g. an address family this machine does not have
        status = _ERRNO.get(exc.errno or 0, TcpStatus.ERROR)
        return _result(sock, address, port, status, exc.errno, start, timeout)
    finally:
        sock.close()


def _ask_for_icmp(sock: socket.socket, family: int) -> None:
    """Have the kernel queue ICMP errors for us (Linux); elsewhere we live with the errno alone."""
    if not sys.platform.startswith("linux"):
        return
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)


def _icmp_error(sock: socket.socket, family: int) -> IcmpError | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        _, ancillary, _, _ = sock.recvmsg(0, 512, socket.MSG_ERRQUEUE)
    except OSError:  # EAGAIN: nothing queued (a TCP reset, a local error)
        return None
    for _level, _type, data in ancillary:
        if len(data) < _EXTENDED_ERR.size:
            continue
        _err, origin, icmp_type, icmp_code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(data)
        if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
            continue
        return IcmpError(4 if origin == SO_EE_ORIGIN_ICMP else 6, icmp_type, icmp_code,
                         _offender(data[_EXTENDED_ERR.size:]))
    return None


def _offender(raw: bytes) -> str | None:
    """The sockaddr after the extended error (SO_EE_OFFENDER): who sent the ICMP message."""
    if len(raw) < 8:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


def _classify(code: int, icmp: IcmpError | None) -> TcpStatus:
    if icmp is not None and icmp.type in (3, 1):  # destination unreachable (v4 type 3, v6 type 1)
        table = _ICMP4 if icmp.version == 4 else _ICMP6
        if icmp.code in table:
            return table[icmp.code]
    return _ERRNO.get(code, TcpStatus.ERROR)


def _result(sock: socket.socket, address: str, port: int, status: TcpStatus, code: int | None, start: float,
            timeout: float, icmp: IcmpError | None = None) -> TcpResult:
    try:
        local = str(sock.getsockname()[0]) or None
    except OSError:
        local = None
    if local in ("0.0.0.0", "::"):
        local = None
    error = None if code is None else f"{errno.errorcode.get(code, code)}: {os.strerror(code)}"
    return TcpResult(address, port, status, code, error, icmp, local, _ms(start), timeout)


def tcp_probe(addresses: Sequence[str], port: int, timeout: float = 3.0) -> tuple[TcpResult, ...]:
    """Connect to every address at once (so a name with a dead address costs one deadline, not several)."""
    chosen = list(addresses)[:MAX_ADDRESSES]
    if not chosen:
        return ()
    with ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="s24kit-tcp") as pool:
        return tuple(pool.map(lambda a: tcp_connect(a, port, timeout), chosen))


def source_address_toward(address: str, port: int = 443) -> str | None:
    """The local address this machine would send from toward ``address`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, port))  # UDP connect only consults the routing table
            return str(sock.getsockname()[0])
    except OSError:
        return None
