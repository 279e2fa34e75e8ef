"""The simulated 중복가입 register: which indemnity (실손) policies one person holds, at every insurer.

In reality the industry's shared contract register tells an insurer of a person's other 실손 policies
(docs/domain.md §4 duplicate cover); here the stack builds one register from the scenario's policies and
every fake insurer asks it, in process, before it shares a loss with the others (비례보상).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class ContractRegister:
    """Policies by the relay-issued identity token, each with the insurer that sold it."""

    def __init__(self) -> None:
        self._by_identity: dict[str, dict[str, tuple[str, dict[str, Any]]]] = defaultdict(dict)

    def add(self, identity: str, insurer_code: str, policy: dict[str, Any]) -> None:
        """Register (or register again) a policy, by its policy number."""
        self._by_identity[identity][policy["policy_number"]] = (insurer_code, policy)

    def other_cover(self, identity: str, insurer_code: str) -> list[dict[str, Any]]:
        """The person's policies at other insurers, in insurer-code order."""
        held = sorted(self._by_identity.get(identity, {}).values(), key=lambda e: (e[0], e[1]["policy_number"]))
        return [policy for code, policy in held if code != insurer_code]
