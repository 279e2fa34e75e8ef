"""``served.json`` in the state folder of ``s24kit serve``: what the running stack serves, for the kit's other
commands (``s24kit load`` sends only claims its relay can forward)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .private import private_file

SERVED = "served.json"


def write_served(state_dir: Path, relay_url: str, insurers: Iterable[str], *, register_url: str | None = None) -> Path:
    """Record the relay's URL, the insurer codes it forwards claims to and the register's URL (rewritten at every
    start)."""
    path = state_dir / SERVED
    private_file(path)  # the state folder's files are its owner's alone (docs/serve.md)
    served: dict[str, object] = {"relay": relay_url, "insurers": sorted(insurers)}
    if register_url is not None:
        served["register"] = register_url
    path.write_text(json.dumps(served) + "\n", encoding="utf-8")
    return path


def served_insurers(state_dir: Path) -> list[str] | None:
    """The insurer codes the stack of ``state_dir`` serves; None when it never recorded them."""
    try:
        insurers = json.loads((state_dir / SERVED).read_text(encoding="utf-8"))["insurers"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(code) for code in insurers] if isinstance(insurers, list) and insurers else None
