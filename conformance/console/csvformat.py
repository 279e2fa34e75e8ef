"""The sites CSV: the register of sites as ``s24kit serve --fleet`` writes it, the console imports and exports it.

One header line with :data:`FLEET_COLUMNS` (import: in any order, the optional ones may be left out), then one
site per line (UTF-8, comma-separated, RFC 4180 quoting). docs/console.md describes each column; the fleet
writer, the importer (:mod:`.sitecsv`) and the exporter (:mod:`.exporting`) all read these constants, so they
cannot drift apart. The columns are the register's fields (``sites`` in :mod:`.tables`), with the product
version named by vendor, product and version, and the region (시도) by its name or its two-digit code.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The columns of a sites CSV, in order. Empty cells: agent columns for a pull site and the other way round.
FLEET_COLUMNS = ("provider_code", "name", "facility_type", "region", "vendor", "product", "product_version", "mode",
                 "pull_url", "server_cert_sha256", "agent_source_ip", "agent_cert_sha256", "contact_name",
                 "contact_phone")
#: Columns an import cannot do without.
REQUIRED_COLUMNS = ("provider_code", "name", "facility_type", "region", "vendor", "product", "product_version",
                    "mode")
#: The register export: the import columns first (an export imports again into another console), then state.
REGISTER_COLUMNS = (*FLEET_COLUMNS, "state", "state_changed_at", "version_state")
#: The export's columns the register keeps for itself: an import accepts them and ignores them (a site is
#: registered as applied, its product version found or made uncertified), and says it did.
READ_ONLY_COLUMNS = tuple(name for name in REGISTER_COLUMNS if name not in FLEET_COLUMNS)
#: The results export: one line per run.
RESULT_COLUMNS = ("run_id", "kind", "provider_code", "name", "vendor", "product", "product_version", "state",
                  "verdict", "started_at", "finished_at", "failed_requirements", "evidence_sha256")


def write_fleet_csv(path: Path, sites: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``sites`` (mappings with the :data:`FLEET_COLUMNS` keys; missing ones are empty) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, FLEET_COLUMNS, extrasaction="ignore", restval="")
        writer.writeheader()
        for site in sites:
            writer.writerow({k: "" if site.get(k) is None else site.get(k) for k in FLEET_COLUMNS})
    return path
