"""Throw-away Linux network namespaces for the network tests: veth links, addresses, nftables, servers inside.

Every name is unique per process and per lab (pid + counter), so parallel xdist workers never collide, and
``Lab.close()`` removes every namespace, process and /etc/netns file it made, also when a test failed.
Addresses come from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and 10/8,
used only inside the namespaces made here.

Run as a script (``python tests/netns.py serve SPEC.json``) it is the server side: TLS listeners with the
kit's test PKI (reference provider, whoami echo), a plain-HTTP port, a silent port and a stub DNS server,
as the JSON spec says; it prints ``READY`` once everything listens and stops when stdin closes.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ETC_NETNS = Path("/etc/netns")
_COUNTER = itertools.count()


@cache
def unavailable_reason() -> str | None:
    """None when namespaces, veth and nftables work here; otherwise why not (for skip/fail messages)."""
    if not (shutil.which("ip") and shutil.which("nft")):
        return "iproute2 (ip) and nftables (nft) are needed for the network-namespace tests"
    if os.geteuid() != 0:
        return "network-namespace tests need root (ip netns add)"
    name = f"s24probe{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "exec", name, "nft", "list", "ruleset"], check=True, capture_output=True,
                       timeout=10)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"cannot create a network namespace here: {exc}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


def _run(argv: list[str], *, input: str | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass
class Namespace:
    """One network namespace: its name, and helpers to configure it and run programs inside."""

    name: str
    role: str

    def ip(self, *args: str) -> None:
        _run(["ip", "-n", self.name, *args])

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        done = subprocess.run(self.argv(*command), capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{command} in {self.role} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def nft(self, ruleset: str) -> None:
        _run(self.argv("nft", "-f", "-"), input=ruleset)

    def sysctl(self, key: str, value: str) -> None:
        _run(self.argv("sysctl", "-q", "-w", f"{key}={value}"))

    def resolv_conf(self, text: str) -> None:
        """/etc/resolv.conf as programs started with ``ip netns exec`` see it (bind-mounted by ip)."""
        directory = ETC_NETNS / self.name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "resolv.conf").write_text(text, encoding="ascii")


@dataclass
class Lab:
    """The namespaces, links and processes of one test module or test; ``close()`` undoes all of it."""

    tag: str = field(default_factory=lambda: f"{os.getpid()}x{next(_COUNTER)}")
    namespaces: list[Namespace] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def namespace(self, role: str) -> Namespace:
        ns = Namespace(f"s24{role}{self.tag}", role)
        _run(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def link(self, a: Namespace, a_cidr: str, b: Namespace, b_cidr: str) -> tuple[str, str]:
        """A veth pair between ``a`` and ``b`` (names unique inside each namespace), addressed and up."""
        a_dev, b_dev = f"to-{b.role}"[:15], f"to-{a.role}"[:15]
        _run(["ip", "link", "add", a_dev, "netns", a.name, "type", "veth", "peer", "name", b_dev, "netns", b.name])
        for ns, dev, cidr in ((a, a_dev, a_cidr), (b, b_dev, b_cidr)):
            if cidr:
                ns.ip("addr", "add", cidr, "dev", dev)
            ns.ip("link", "set", dev, "up")
        return a_dev, b_dev

    def spawn(self, ns: Namespace, *command: str, ready: str = "READY", timeout: float = 30) -> subprocess.Popen:
        """Start ``command`` inside ``ns`` and wait until it prints the ``ready`` line."""
        proc = subprocess.Popen(ns.argv(*command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1)
        self.processes.append(proc)
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            readable, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not readable:
                break
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip() == ready:
                return proc
        proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"{command} in {ns.role} did not become ready: {stderr.strip()[-2000:]}")

    def serve(self, ns: Namespace, spec: dict[str, Any], workdir: Path) -> subprocess.Popen:
        """Run this file's server side in ``ns`` with ``spec`` (see :func:`serve_main`)."""
        path = workdir / f"serve-{ns.role}-{self.tag}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        return self.spawn(ns, sys.executable, "-u", str(HERE), "serve", str(path))

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=20)
            shutil.rmtree(ETC_NETNS / ns.name, ignore_errors=True)
        self.processes.clear()
        self.namespaces.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def doctor(ns: Namespace, *args: str, timeout: float = 60) -> tuple[int, dict[str, Any] | None, str]:
    """``s24kit doctor ARGS --format json`` inside ``ns``: (exit code, parsed JSON or None, stderr)."""
    done = ns.run(sys.executable, "-m", "s24kit.conformance.cli", "doctor", *args, "--format", "json",
                  timeout=timeout)
    try:
        report = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    return done.returncode, report, done.stderr


def python_in(ns: Namespace, source: str, timeout: float = 60) -> Any:
    """Run ``source`` with Python inside ``ns``; it must print one JSON value as its last line."""
    done = ns.run(sys.executable, "-c", source, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"python in {ns.role} failed: {done.stderr.strip()[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the two topologies of the tests

#: Firewall lab: a client namespace and a server namespace on one link, the server behind nftables rules.
SERVER, CLIENT, UNROUTED = "192.0.2.1", "192.0.2.2", "203.0.113.9"
PORTS = {"open": 8443, "drop": 8444, "reset": 8445, "prohibited": 8446, "port_unreachable": 8447,
         "host_unreachable": 8448, "closed": 8449, "plain": 8450, "silent": 8451}
NAME, NODATA_NAME, SILENT_NAME, MISSING_NAME = ("clinic.s24kit.test", "nodata.s24kit.test", "silent.s24kit.test",
                                                "missing.s24kit.test")
FIREWALL = f"""
table inet clinicfw {{
  chain input {{
    type filter hook input priority 0; policy accept;
    tcp dport {PORTS["drop"]} drop
    tcp dport {PORTS["reset"]} reject with tcp reset
    tcp dport {PORTS["prohibited"]} reject with icmpx type admin-prohibited
    tcp dport {PORTS["port_unreachable"]} reject with icmpx type port-unreachable
    tcp dport {PORTS["host_unreachable"]} reject with icmpx type host-unreachable
  }}
}}
"""
#: NAT lab: clinic → router (masquerades onto the relay's link) → relay serving whoami.
CLINIC_LAN, ROUTER_LAN, ROUTER_WAN, RELAY = "10.24.1.2", "10.24.1.1", "198.51.100.1", "198.51.100.10"
RELAY_PORT = 8443
PKI_HOSTS = (NAME, SERVER, RELAY, "localhost", "127.0.0.1")


def firewall_lab(lab: Lab, workdir: Path, pki: Path, scenario: Path) -> tuple[Namespace, Namespace]:
    """(client, server): the reference provider behind the firewall rules, plus a stub DNS on the server."""
    client, server = lab.namespace("cli"), lab.namespace("srv")
    lab.link(client, f"{CLIENT}/24", server, f"{SERVER}/24")
    server.nft(FIREWALL)
    client.resolv_conf(f"nameserver {SERVER}\noptions timeout:1 attempts:1\n")
    behind = [{"kind": "provider", "port": PORTS[k]}
              for k in ("open", "drop", "reset", "prohibited", "port_unreachable", "host_unreachable")]
    lab.serve(server, {"pki": str(pki), "hosts": PKI_HOSTS, "scenario": str(scenario),
                       "listeners": [*behind, {"kind": "provider", "port": PORTS["plain"], "tls": False},
                                     {"kind": "silent", "port": PORTS["silent"]}],
                       "dns": {"address": SERVER, "records": {NAME: SERVER}, "nodata": [NODATA_NAME],
                               "silent": [SILENT_NAME]}}, workdir)
    return client, server


def nat_lab(lab: Lab, workdir: Path, pki: Path) -> Namespace:
    """The clinic namespace, whose traffic to the relay leaves through the router's address (masquerade)."""
    clinic, router, relay = lab.namespace("clinic"), lab.namespace("router"), lab.namespace("relay")
    lab.link(clinic, f"{CLINIC_LAN}/24", router, f"{ROUTER_LAN}/24")
    lab.link(router, f"{ROUTER_WAN}/24", relay, f"{RELAY}/24")
    clinic.ip("route", "add", "default", "via", ROUTER_LAN)
    router.sysctl("net.ipv4.ip_forward", "1")
    router.nft('table ip nat {\n  chain postrouting {\n    type nat hook postrouting priority 100;\n'
               '    oifname "to-relay" masquerade\n  }\n}\n')
    lab.serve(relay, {"pki": str(pki), "hosts": PKI_HOSTS,
                      "listeners": [{"kind": "echo", "port": RELAY_PORT}]}, workdir)
    return clinic


# ---------------------------------------------------------------- the server side (runs inside a namespace)


def dns_answer(query: bytes, records: dict[str, str], nodata: set[str], silent: set[str]) -> bytes | None:
    """A DNS reply: A records for ``records``, NOERROR without data for ``nodata``, no reply for ``silent``,
    NXDOMAIN for every other name."""
    if len(query) < 17:
        return None
    qid, flags = struct.unpack_from("!HH", query)
    pos, labels = 12, []
    while pos < len(query) and query[pos]:
        size = query[pos]
        labels.append(query[pos + 1:pos + 1 + size].decode("ascii", "replace").lower())
        pos += 1 + size
    pos += 1
    if pos + 4 > len(query):
        return None
    qtype = struct.unpack_from("!H", query, pos)[0]
    question, name = query[12:pos + 4], ".".join(labels)
    if name in silent:
        return None
    answer, rcode = b"", 0
    if name in records:
        if qtype == 1:  # A
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + socket.inet_aton(records[name])
    elif name not in nodata:
        rcode = 3  # NXDOMAIN
    header = struct.pack("!HHHHHH", qid, 0x8480 | (flags & 0x0100) | rcode, 1, 1 if answer else 0, 0, 0)
    return header + question + answer


def _serve_dns(address: str, spec: dict[str, Any]) -> None:
    records, nodata, silent = spec.get("records", {}), set(spec.get("nodata", [])), set(spec.get("silent", []))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))

    def loop() -> None:
        while True:
            query, peer = sock.recvfrom(4096)
            reply = dns_answer(query, records, nodata, silent)
            if reply is not None:
                sock.sendto(reply, peer)

    threading.Thread(target=loop, daemon=True).start()


def _serve_silent(host: str, port: int) -> None:
    """Accept connections and never say a word (a stuck service, or a TCP proxy with no backend)."""
    listener = socket.create_server((host, port))
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            conn, _ = listener.accept()
            held.append(conn)

    threading.Thread(target=loop, daemon=True).start()


def serve_main(spec_path: str) -> None:
    """Start every listener of the spec, print READY, and wait for stdin to close (or SIGTERM)."""
    from s24kit.simulator import serving
    from s24kit.simulator.net_echo import echo_app
    from s24kit.simulator.pki import ensure_pki
    from s24kit.simulator.provider import Scenario, create_provider_app

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    pki = ensure_pki(Path(spec["pki"]), hosts=tuple(spec.get("hosts", ("localhost", "127.0.0.1"))))
    apps: dict[str, Any] = {}
    for listener in spec.get("listeners", []):
        kind, host, port = listener["kind"], listener.get("host", "0.0.0.0"), listener["port"]
        if kind == "silent":
            _serve_silent(host, port)
            continue
        if kind not in apps:
            apps[kind] = echo_app() if kind == "echo" else create_provider_app(Scenario.load(Path(spec["scenario"])))
        tls = None
        if listener.get("tls", True):
            role = "relay-server" if kind == "echo" else "provider-server"
            tls = pki.server_context(role, require_client_cert=listener.get("mtls", True))
        serving.start(apps[kind], host=host, port=port, tls=tls, name=f"{kind}-{port}")
    if "dns" in spec:
        _serve_dns(spec["dns"]["address"], spec["dns"])
    print("READY", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sys.stdin.read()  # the test closes stdin (or kills us) when it is done
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve_main(sys.argv[2])
    else:
        sys.exit("usage: python tests/netns.py serve SPEC.json")
