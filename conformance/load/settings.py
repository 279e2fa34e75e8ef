"""What ``s24kit load`` tells the Locust process it starts: one JSON value in the environment variable
``S24KIT_LOAD``, read back by the kit's locustfile (which cannot take the kit's options itself)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

VARIABLE = "S24KIT_LOAD"
#: User class of each traffic and the certificate role it presents (docs/security.md).
TRAFFIC = {"patients": ("PatientUser", "patient-app"), "relay": ("RelayPullUser", "relay"),
           "agents": ("AgentUser", "provider-agent")}


@dataclass
class Settings:
    scenario: str
    ca: str
    certificates: dict[str, tuple[str, str]]  # role → (certificate, key) files
    providers: list[str] | None = None  # provider codes whose claims are sent (None: every provider)
    insurers: list[str] | None = None  # insurer codes the target relay knows (None: every one of the scenario)
    workers: int = 1  # partitions: every worker of a run must be given the same number
    run: str = "run"  # part of every request id, so a new run never replays an earlier one's ids
    repeat: bool = True  # after a worker's last claim, start again from its first with new request ids
    claims: int | None = None  # claims in all, split between the workers (None: until --run-time)
    results: str | None = None  # file where the master (or a lone process) writes Locust's final statistics
    record_ids: str | None = None  # folder where each worker writes the request ids it sent and its counts
    poll_wait: float = 20.0  # seconds of each long poll (claim status, agent poll)
    claim_timeout: float = 120.0  # a claim not final by then counts as a failure (claim_timeout)
    agent_provider: str | None = None  # the provider code agents poll for
    tenants: str | None = None  # tenants.jsonl of s24kit serve --tenants: claims spread over its clinics

    def to_environment(self) -> dict[str, str]:
        return {VARIABLE: json.dumps(dataclasses.asdict(self), ensure_ascii=False)}

    @classmethod
    def from_environment(cls) -> Settings:
        raw = os.environ.get(VARIABLE)
        if not raw:
            raise RuntimeError(f"{VARIABLE} is not set: start this locustfile with s24kit load")
        values = json.loads(raw)
        values["certificates"] = {k: tuple(v) for k, v in values["certificates"].items()}
        return cls(**values)

    def certificate(self, role: str) -> tuple[str, str]:
        if role not in self.certificates:
            raise RuntimeError(f"no client certificate for role {role}")
        return self.certificates[role]


def locustfile() -> Path:
    """The kit's locustfile, found without importing it (importing Locust patches the process with gevent)."""
    return Path(__file__).with_name("locustfile.py")
