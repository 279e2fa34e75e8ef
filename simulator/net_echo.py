"""The "whoami" echo: tell a caller the source address its traffic arrived from.

kit-v1 convention: the relay (and ``s24kit serve``) answers ``GET /relay/v1/whoami`` with
``{"address": "<peer ip>"}``. A clinic compares that with the address it registered with the relay;
a difference means its traffic leaves through another address (NAT, a second line, an LTE fail-over).
"""

from __future__ import annotations

import ipaddress

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .problems import problem

WHOAMI_PATH = "/relay/v1/whoami"


def peer_address(request: Request) -> str | None:
    """The peer's IP as the server saw it; IPv4-mapped IPv6 (``::ffff:a.b.c.d``) shown as IPv4."""
    host = request.client.host if request.client else None
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


async def _whoami(request: Request) -> Response:
    address = peer_address(request)
    if address is None:
        # A unix socket or a test transport has no IP peer: say so instead of inventing one.
        return problem(500, "peer_unknown", "Peer address unknown",
                       "연결한 쪽의 IP 주소를 알 수 없습니다 / the peer's IP address is not known")
    return JSONResponse({"address": address}, headers={"cache-control": "no-store"})


def whoami(path: str = WHOAMI_PATH) -> Route:
    """A Starlette route answering ``GET path`` with the caller's source address; mount it in any app."""
    return Route(path, _whoami, methods=["GET"], name="whoami")


def echo_app() -> Starlette:
    """A stand-alone app serving only :func:`whoami` (for tests and a relay-side helper host)."""
    return Starlette(routes=[whoami()])
