"""Workers: threads that claim jobs from the database and run them — inside the console, and in
``s24kit console worker`` processes on other machines sharing the same PostgreSQL database."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .db import Database
from .executor import RunSettings, execute
from .jobs import STALE_AFTER, claim, requeue_stale
from .monitoring import due_batch

DEFAULT_THREADS = 4
IDLE_WAIT = 1.0  # seconds between looks at an empty queue


def worker_name() -> str:
    """host:pid:random — unique per process, readable in the jobs table's locked_by."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """``threads`` jobs at a time from ``database``; each thread claims, runs and records one job at a time."""

    def __init__(self, database: Database, settings: RunSettings, *, threads: int = DEFAULT_THREADS,
                 name: str | None = None, stale_after: dt.timedelta = STALE_AFTER, monitor: bool = True) -> None:
        self.database, self.settings, self.threads = database, settings, threads
        self.name = name or worker_name()
        self.stale_after, self.monitor = stale_after, monitor

    def run_one(self) -> bool:
        """Claim and run one job; False when there was none to claim."""
        claimed = claim(self.database, self.name)
        if claimed is None:
            return False
        execute(self.database, claimed, self.name, self.settings)
        return True

    def housekeeping(self) -> None:
        """Queue abandoned jobs again and start the monitoring batch when it is due."""
        requeue_stale(self.database, self.stale_after)
        if self.monitor:
            due_batch(self.database)

    def run_until_idle(self, max_jobs: int | None = None) -> int:
        """Run jobs on all threads until none can be claimed (or ``max_jobs`` ran); how many ran."""
        self.housekeeping()
        lock, count = threading.Lock(), [0]

        def loop() -> None:
            while True:
                with lock:
                    if max_jobs is not None and count[0] >= max_jobs:
                        return
                    count[0] += 1
                if not self.run_one():
                    with lock:
                        count[0] -= 1
                    return

        with ThreadPoolExecutor(self.threads, thread_name_prefix="s24kit-console-worker") as pool:
            for future in [pool.submit(loop) for _ in range(self.threads)]:
                future.result()
        return count[0]

    def run_forever(self, stop: threading.Event, idle_wait: float = IDLE_WAIT) -> None:
        """Work until ``stop`` is set: each thread claims jobs, and waits ``idle_wait`` when there are none."""
        def loop() -> None:
            while not stop.is_set():
                if not self.run_one():
                    stop.wait(idle_wait)

        def keeper() -> None:
            while not stop.is_set():
                self.housekeeping()
                stop.wait(max(idle_wait, 5.0))

        threads = [threading.Thread(target=loop, name=f"s24kit-console-worker-{i}", daemon=True)
                   for i in range(self.threads)]
        threads.append(threading.Thread(target=keeper, name="s24kit-console-housekeeping", daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def in_console(settings: RunSettings, threads: int) -> Callable[[Any], None]:
    """A start-up hook for the console app: workers in the console's own process (a restarted console resumes
    the queue where it stopped: :func:`~.jobs.requeue_stale` hands back what the last one held)."""
    def start(app: Any) -> None:
        worker = Worker(app.state.database, settings, threads=threads)
        app.state.run_settings = settings
        threading.Thread(target=worker.run_forever, args=(threading.Event(),), name="s24kit-console-workers",
                         daemon=True).start()
    return start
