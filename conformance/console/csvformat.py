"""The fleet CSV: the register of sites as ``s24kit serve --fleet`` writes it and the console imports it.

One header line with :data:`FLEET_COLUMNS` in this order, then one site per line (UTF-8, comma-separated,
RFC 4180 quoting). docs/console.md §5 describes each column; the importer reads this constant, so the writer
and the reader cannot drift apart.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The columns of a fleet CSV, in order. Empty cells: agent columns for a pull site and the other way round.
FLEET_COLUMNS = ("provider_code", "name", "facility_type", "region", "vendor", "product", "product_version", "mode",
                 "pull_url", "server_cert_sha256", "agent_source_ip", "agent_cert_sha256", "contact")


def write_fleet_csv(path: Path, sites: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``sites`` (mappings with the :data:`FLEET_COLUMNS` keys; missing ones are empty) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, FLEET_COLUMNS, extrasaction="ignore", restval="")
        writer.writeheader()
        for site in sites:
            writer.writerow({k: "" if site.get(k) is None else site.get(k) for k in FLEET_COLUMNS})
    return path
