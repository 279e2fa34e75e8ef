"""The crash drill, long: ``s24kit serve`` killed with SIGKILL many times while claims flow (docs/durability.md).

Every kill lands at a seeded random moment; after the last one the drill drains and counts: claims accepted,
final states, claims paid twice, payouts that differ from the scenario's expected amounts. Exit 0 when nothing
was lost or paid twice, 1 otherwise. The short form of the same drill is tests/test_crash.py.

With ``--relay-workers N`` (N ≥ 2) it runs ``s24kit serve --processes --relay-workers N``: each kill takes the whole
process tree at once (the parent and every party's process), and before each of the first ``--worker-kills``
of them one relay worker is killed alone while the others carry on.

    python benchmarks/crash_soak.py [--kills 20] [--claims 40] [--patients 80] [--seed 1] [--duration 600]
                                    [--relay-workers N [--worker-kills K]]
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
    parser.add_argument("--relay-workers", type=int, default=1,
                        help="N ≥ 2: serve --processes --relay-workers N, its whole process tree killed (default 1)")
    parser.add_argument("--worker-kills", type=int, default=None,
                        help="with --relay-workers: kills of one relay worker alone, each before a tree kill "
                             "(default: half the kills)")
    args = parser.parse_args()
    if args.relay_workers < 1 or args.kills < 0:
        parser.error("--relay-workers must be at least 1 and --kills not negative")
    worker_kills = args.kills // 2 if args.worker_kills is None else args.worker_kills
    worker_kills = worker_kills if args.relay_workers > 1 else 0
    if not 0 <= worker_kills <= args.kills:
        parser.error("--worker-kills: from 0 to --kills (each comes before a kill of the whole tree)")
    state = args.state or Path(tempfile.mkdtemp(prefix="s24kit-soak-")) / "state"
    state.mkdir(parents=True, exist_ok=True)
    drill = CrashDrill(state, patients=args.patients, seed=args.seed, claims=args.claims,
                       relay_workers=args.relay_workers)
    if len(drill.records) < args.claims:
        print(f"the scenario has {len(drill.records)} first claims at the reference provider; "
              f"raise --patients for {args.claims}", file=sys.stderr)
    # Spread the claims over the kills so that each kill lands while claims are in flight.
    pause = min(2.0, 3.0 * args.kills / max(len(drill.records), 1))
    result = drill.run(kills=args.kills, seed=args.seed, budget=args.duration, pause=pause, worker_kills=worker_kills)
    print(json.dumps({"benchmark": "crash_soak", "relay_workers": args.relay_workers, "state": str(state),
                      **result.summary()}, ensure_ascii=False))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
