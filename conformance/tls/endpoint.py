"""The context of every kind="tls" check: one TLS endpoint as the relay sees it, and running the TLS checks.

Public API (also used by ``s24kit doctor``)::

    endpoint = TlsEndpoint("127.0.0.1", 8443, server_name="clinic.test", anchors=Path("relay-trust.pem"),
                           client_cert=Path("relay.pem"), client_key=Path("relay.key"), policy=TlsPolicy())
    results = run_tls_checks(endpoint)                       # every registered TLS check, probes shared
    outcome = handshake(endpoint, with_client_cert=True, verify=True)   # one classified handshake

The package reads top-down from here: endpoint (this API) → checks → facts → probe / handshake → target
(the :class:`TlsEndpoint` itself) → hello, ciphers, certs, policy. No module imports one above it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..checks.registry import CHECKS, Result
from .checks import NEEDS  # importing registers the TLS checks
from .facts import facts_of, prefetch
from .handshake import CERT_ERRORS, CLIENT_REFUSALS, HandshakeOutcome, Mode, TlsError, handshake
from .target import TlsEndpoint

__all__ = [
    "CERT_ERRORS", "CLIENT_REFUSALS", "HandshakeOutcome", "Mode", "TlsEndpoint", "TlsError", "handshake",
    "outcome_summary", "run_tls_checks",
]


def run_tls_checks(endpoint: TlsEndpoint, select: Callable[[str], bool] | None = None) -> list[Result]:
    """Run every registered kind="tls" check (those `select` accepts) in id order; probes run once, in parallel.

    Starts from fresh probe results: a second call sees the server as it is now.
    """
    chosen = [c for rid, c in sorted(CHECKS.items()) if c.kind == "tls" and (select is None or select(rid))]
    endpoint.refresh()
    prefetch(facts_of(endpoint), {need for c in chosen for need in NEEDS.get(c.requirement, ())})
    return [c.run(endpoint) for c in chosen]


def outcome_summary(outcome: HandshakeOutcome) -> dict[str, Any]:
    """A JSON-friendly view of a handshake for reports and doctor output."""
    leaf = outcome.leaf
    return {
        "ok": outcome.ok, "error": outcome.error.value if outcome.error else None, "detail": outcome.detail,
        "alert": outcome.alert, "verify_code": outcome.verify_code, "version": outcome.version,
        "cipher": outcome.cipher, "stage": outcome.stage, "http_status": outcome.http_status,
        "chain_length": len(outcome.peer_chain), "leaf_subject": leaf.subject.rfc4514_string() if leaf else None,
        "elapsed_ms": outcome.elapsed_ms,
    }
