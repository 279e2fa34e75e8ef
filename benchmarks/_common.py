"""Helpers shared by the benchmarks: timing, memory, and the one-line JSON result."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any


def rate(func: Callable[[Any], Any], items: Iterable[Any], *, min_seconds: float = 1.0, max_rounds: int = 50) -> float:
    """Items per second of ``func`` over ``items`` (repeated until ``min_seconds`` passed, bounded)."""
    items = list(items)
    done, started = 0, time.perf_counter()
    for _ in range(max_rounds):
        for item in items:
            func(item)
        done += len(items)
        if time.perf_counter() - started >= min_seconds:
            break
    return done / (time.perf_counter() - started)


def interleaved_rates(sides: dict[str, tuple[Callable[[Any], Any], Iterable[Any]]], *, min_seconds: float = 1.0,
                      max_rounds: int = 200) -> dict[str, float]:
    """Items per second of each side, measured in alternating passes (the order flipped every round), so a
    change of load on the machine falls on every side alike and a side cannot look faster for running
    while the machine was quieter. Each side runs at least ``min_seconds`` in all, unless a much slower side
    has already run five times that over at least five rounds (a fast side then still ran in every round)."""
    lists = {name: (func, list(items)) for name, (func, items) in sides.items()}
    spent = dict.fromkeys(lists, 0.0)
    done = dict.fromkeys(lists, 0)
    order = list(lists)
    for rounds in range(1, max_rounds + 1):
        for name in order:
            func, items = lists[name]
            started = time.perf_counter()
            for item in items:
                func(item)
            spent[name] += time.perf_counter() - started
            done[name] += len(items)
        order.reverse()
        if min(spent.values()) >= min_seconds or (rounds >= 5 and max(spent.values()) >= 5 * min_seconds):
            break
    return {name: done[name] / spent[name] for name in lists}


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    return process_rss_mb(os.getpid()) or 0.0


def process_cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds process ``pid`` (every thread of it) has used so far; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (proc(5) fields 14, 15)


def process_rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` now, in MB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU seconds each named process used between :meth:`start` and :meth:`stop` (taken from /proc, so the
    figure is the processes' own work, whatever else the machine was doing)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.first: dict[str, float | None] = {}

    def start(self) -> None:
        self.first = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """Seconds per process (a process that ended meanwhile is left out)."""
        used = {}
        for name, pid in self.pids.items():
            now, then = process_cpu_seconds(pid), self.first.get(name)
            if now is not None and then is not None:
                used[name] = now - then
        return used


def result(name: str, value: float, unit: str, baseline: float, **extra: Any) -> None:
    """Print the benchmark's last line."""
    ratio = value / baseline if baseline else None
    print(json.dumps({"benchmark": name, "value": round(value, 2), "unit": unit, "baseline": round(baseline, 2),
                      "ratio": round(ratio, 3) if ratio is not None else None, **extra}, ensure_ascii=False))
