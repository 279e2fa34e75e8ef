"""Scenario generation on one worker, per patient and per visit, and memory of a large run.

Headline: the **full pipeline** — a patient with the policies, every visit and its documents, the claims,
each insurer's expected payout, and every output file serialised — in **patients per second**, against
the baseline measured in the same run: Faker("ko_KR") making plain person records (name, ssn, address,
phone_number), one person each. Both count persons; a scenario patient carries several visits, so the
per-visit rate is printed beside it (visits/s = patients/s × visits per patient), and so are the rates of
drawing alone (no claims, no payouts, no serialisation), which no user ever gets on their own.

Also reported: a memory run that writes ``--visits`` visits with ``--workers`` processes (goal: 1,000,000
visits with 2 workers in under 300 MB, parent and children together).

    python benchmarks/generate.py [--visits 1000000] [--workers 2] [--quick] [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from faker import Faker

sys.path.insert(0, str(Path(__file__).parent))
from _common import rate, result

from s24kit.simulator.generator.context import Options
from s24kit.simulator.generator.scenario import Generator, write_scenario

SEED = 20_261_101


def rates(seconds: float, *, payouts: bool = False, serialise: bool = False) -> tuple[float, float, float]:
    """(patients per second, visits per second, visits per patient) drawing patients for about ``seconds``."""
    options = Options(patients=100_000, seed=SEED).resolved()
    generator = Generator(options, payouts=payouts)
    for index in range(20):  # warm the caches outside the timing
        generator.patient(index)
    visits = patients = 0
    start = time.perf_counter()
    index = 1000
    while time.perf_counter() - start < seconds:
        if serialise:
            chunk = generator.chunk(index, index + 50)
            visits += chunk.counts["visits"]
            patients += 50
            index += 50
        else:
            visits += len(generator.patient(index).visits)
            patients += 1
            index += 1
    elapsed = time.perf_counter() - start
    return patients / elapsed, visits / elapsed, visits / patients


def plain_records_per_second(seconds: float) -> float:
    fake = Faker("ko_KR")
    fake.seed_instance(SEED)
    return rate(lambda _: (fake.name(), fake.ssn(), fake.address(), fake.phone_number()), range(500),
                min_seconds=seconds, max_rounds=10_000)


class TreeRss:
    """Peak memory of this process and all its descendants, sampled from /proc.

    ``peak_mb`` adds up the resident sets (pages shared by forked workers count once per process);
    ``peak_pss_mb`` adds up the proportional set sizes (shared pages split between their sharers).
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak_mb, self.peak_pss_mb, self._stop = interval, 0.0, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, pss = self.sample()
            self.peak_mb, self.peak_pss_mb = max(self.peak_mb, rss), max(self.peak_pss_mb, pss)
            self._stop.wait(self.interval)

    @staticmethod
    def _pss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    @classmethod
    def sample(cls) -> tuple[float, float]:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
                rss[int(entry)] = int(fields[21]) * resource.getpagesize()
            except (OSError, IndexError, ValueError):
                continue
        tree, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            pid = frontier.pop()
            for child, parent in parents.items():
                if parent == pid and child not in tree:
                    tree.add(child)
                    frontier.append(child)
        return sum(rss.get(pid, 0) for pid in tree) / 2**20, sum(cls._pss(pid) for pid in tree) / 2**20


def memory_run(visits: int, per_patient: float, workers: int, out: Path | None, keep: bool) -> dict[str, float]:
    """Run :func:`write_large` in a fresh interpreter, so that the timing runs above do not count."""
    command = [sys.executable, __file__, "--child", "--visits", str(visits), "--per-patient", str(per_patient),
               "--workers", str(workers)] + (["--out", str(out)] if out else []) + (["--keep"] if keep else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_large(visits: int, per_patient: float, workers: int, out: Path | None, keep: bool) -> dict[str, float]:
    """Write about ``visits`` visits with ``workers`` processes; time, peak memory, size."""
    patients = max(1, math.ceil(visits / per_patient))
    options = Options(patients=patients, seed=SEED).resolved()
    base = out or Path(tempfile.mkdtemp(prefix="s24kit-bench-"))
    target = base / "scenario"
    started = time.perf_counter()
    with TreeRss() as tree:
        manifest = write_scenario(target, options, workers=workers, force=True)
    elapsed = time.perf_counter() - started
    size = sum(f["bytes"] for f in manifest["files"].values())
    if not keep:
        shutil.rmtree(target, ignore_errors=True)
        if out is None:
            shutil.rmtree(base, ignore_errors=True)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"visits": manifest["counts"]["visits"], "patients": patients, "workers": workers,
            "seconds": round(elapsed, 1), "visits_per_s": round(manifest["counts"]["visits"] / elapsed, 1),
            "peak_rss_mb_tree": round(tree.peak_mb, 1), "peak_pss_mb_tree": round(tree.peak_pss_mb, 1),
            "maxrss_mb_parent": round(self_mb, 1),
            "maxrss_mb_largest_child": round(children_mb, 1),
            "maxrss_mb_parent_plus_children": round(self_mb + workers * children_mb, 1),
            "output_mb": round(size / 2**20, 1), "claims": manifest["counts"]["claims"],
            "payouts": manifest["counts"]["payouts"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visits", type=int, default=1_000_000, help="visits for the memory run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the memory run")
    parser.add_argument("--quick", action="store_true", help="a 20,000-visit memory run and shorter timings")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window of each rate")
    parser.add_argument("--out", type=Path, help="where to write the memory run (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the scenario of the memory run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--per-patient", type=float, default=9.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(write_large(args.visits, args.per_patient, args.workers, args.out, args.keep)))
        return
    seconds = 1.0 if args.quick else args.seconds
    visits = 20_000 if args.quick else args.visits

    # interleaved, twice each: a load change on the machine hits both sides alike
    baseline_runs, full_runs, drawn_runs = [], [], []
    for _ in range(2):
        baseline_runs.append(plain_records_per_second(seconds / 2))
        full_runs.append(rates(seconds / 2, payouts=True, serialise=True))
        drawn_runs.append(rates(seconds / 2))
    baseline = sum(baseline_runs) / len(baseline_runs)
    full_patients, full_visits, per_patient = (sum(r[i] for r in full_runs) / len(full_runs) for i in range(3))
    drawn_patients, drawn_visits = (sum(r[i] for r in drawn_runs) / len(drawn_runs) for i in range(2))
    print(f"Faker ko_KR plain person records (name, ssn, address, phone_number): {baseline:,.0f} persons/s")
    print(f"full pipeline, one worker: {full_patients:,.1f} patients/s = {full_visits:,.0f} visits/s "
          f"({per_patient:.2f} visits per patient; claims, expected payouts, every file serialised) — "
          f"{full_patients / baseline:.3f} of Faker's persons/s")
    print(f"drawing alone (no claims, payouts or files): {drawn_patients:,.1f} patients/s = {drawn_visits:,.0f} "
          f"visits/s")
    memory = memory_run(visits, per_patient, args.workers, args.out, args.keep)
    print(f"memory run: {memory['visits']:,} visits ({memory['patients']:,} patients) with {args.workers} workers "
          f"in {memory['seconds']:,.1f} s ({memory['visits_per_s']:,.0f} visits/s), {memory['output_mb']:,.0f} MB "
          f"written; peak RSS of the process tree {memory['peak_rss_mb_tree']:.1f} MB (sampled; PSS "
          f"{memory['peak_pss_mb_tree']:.1f} MB), "
          f"maxrss parent {memory['maxrss_mb_parent']:.1f} MB + {args.workers} × largest child "
          f"{memory['maxrss_mb_largest_child']:.1f} MB = {memory['maxrss_mb_parent_plus_children']:.1f} MB")
    result("generate", full_patients, "patients/s (full pipeline)", baseline, baseline_unit="Faker persons/s",
           full_pipeline_visits_per_s=round(full_visits, 1), visits_per_patient=round(per_patient, 2),
           drawing_alone_patients_per_s=round(drawn_patients, 1), drawing_alone_visits_per_s=round(drawn_visits, 1),
           memory_run=memory)


if __name__ == "__main__":
    main()
