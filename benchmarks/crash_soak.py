"""The crash drill, long: ``s24kit serve`` killed with SIGKILL many times while claims flow (docs/durability.md).

Every kill lands at a seeded random moment; after the last one the drill drains and counts: claims accepted,
final states, claims paid twice, payouts that differ from the scenario's expected amounts. Exit 0 when nothing
was lost or paid twice, 1 otherwise. The short form of the same drill is tests/test_crash.py.

    python benchmarks/crash_soak.py [--kills 20] [--claims 40] [--patients 80] [--seed 1] [--duration 600]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from crash_drill import CrashDrill


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs while claims flow (default 20)")
    parser.add_argument("--claims", type=int, default=40, help="claims to file, one per patient (default 40)")
    parser.add_argument("--patients", type=int, default=80, help="patients of the generated scenario (default 80)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments and the scenario")
    parser.add_argument("--duration", type=float, default=600.0, help="time budget in seconds (default 600)")
    parser.add_argument("--state", type=Path, help="state directory (default: a new temporary one)")
    args = parser.parse_args()
    state = args.state or Path(tempfile.mkdtemp(prefix="s24kit-soak-")) / "state"
    state.mkdir(parents=True, exist_ok=True)
    drill = CrashDrill(state, patients=args.patients, seed=args.seed, claims=args.claims)
    if len(drill.records) < args.claims:
        print(f"the scenario has {len(drill.records)} first claims at the reference provider; "
              f"raise --patients for {args.claims}", file=sys.stderr)
    # Spread the claims over the kills so that each kill lands while claims are in flight.
    pause = min(2.0, 3.0 * args.kills / max(len(drill.records), 1))
    result = drill.run(kills=args.kills, seed=args.seed, budget=args.duration, pause=pause)
    print(json.dumps({"benchmark": "crash_soak", "state": str(state), **result.summary()}, ensure_ascii=False))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
