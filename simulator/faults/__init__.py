"""Fault plans: seeded, replayable faults for the simulated parties, off by default.

- :mod:`.plan` — :class:`FaultKind`, :class:`FaultRule`, :class:`FaultPlan` (TOML/JSON), :class:`FaultSwitch`;
- :mod:`.client` — :class:`FaultTransport` / :class:`PartyFaultTransport` for outgoing httpx calls;
- :mod:`.server` — :class:`FaultMiddleware` for ASGI apps;
- :mod:`.admin` — :func:`fault_routes` (``/__admin/faults``).
"""

from .admin import fault_routes
from .client import FaultTransport, PartyFaultTransport
from .plan import Fault, FaultKind, FaultPlan, FaultPlanError, FaultRule, FaultSwitch
from .server import FaultDrop, FaultMiddleware

__all__ = ["Fault", "FaultDrop", "FaultKind", "FaultMiddleware", "FaultPlan", "FaultPlanError", "FaultRule",
           "FaultSwitch", "FaultTransport", "PartyFaultTransport", "fault_routes"]
