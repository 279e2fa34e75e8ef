"""The simulated 중복가입 register: which indemnity (실손) policies one person holds, at every insurer.

In reality the industry's shared contract register tells an insurer of a person's other 실손 policies
(docs/domain.md §4 duplicate cover). Here the stack builds one :class:`ContractRegister` from the scenario's
policies and serves it as a party of its own (:mod:`.register_app`, mutual TLS, only the ``insurer``
certificate role may ask); every fake insurer asks it through a :class:`RegisterClient` — over the network
when the stack is served, through an in-process ASGI transport otherwise — before it shares a loss (비례보상).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx

LOOKUPS = "/register/v1/lookups"


class ContractRegister:
    """Policies by the relay-issued identity token, each with the insurer that sold it."""

    def __init__(self) -> None:
        self._by_identity: dict[str, dict[str, tuple[str, dict[str, Any]]]] = defaultdict(dict)

    def add(self, identity: str, insurer_code: str, policy: dict[str, Any]) -> None:
        """Register (or register again) a policy, by its policy number."""
        self._by_identity[identity][policy["policy_number"]] = (insurer_code, policy)

    def other_cover(self, identity: str, insurer_code: str) -> list[dict[str, Any]]:
        """The person's policies at other insurers, in insurer-code order, each naming its insurer."""
        held = sorted(self._by_identity.get(identity, {}).values(), key=lambda e: (e[0], e[1]["policy_number"]))
        return [{**policy, "insurer_code": code} for code, policy in held if code != insurer_code]

    def __len__(self) -> int:
        return sum(len(policies) for policies in self._by_identity.values())


class RegisterUnavailable(Exception):
    """The register did not answer a lookup: the claim cannot be shared correctly now (ask again later)."""


class RegisterClient:
    """An insurer's way to the register: ``client`` carries the insurer's own client certificate (the register
    answers for the insurer that certificate names)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client, self.url = client, base_url.rstrip("/") + LOOKUPS

    async def other_cover(self, identity: str) -> list[dict[str, Any]]:
        """The person's policies at the other insurers; :class:`RegisterUnavailable` when there is no answer."""
        try:
            response = await self.client.post(self.url, json={"identity_token": identity})
        except httpx.HTTPError as exc:
            raise RegisterUnavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise RegisterUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.json()["policies"]

    async def aclose(self) -> None:
        await self.client.aclose()
