"""Summarise py-spy raw profiles (``benchmarks/relay.py --profile DIR``): per party, the share of samples by
where the innermost frame of the kit or its libraries was, grouped into named costs.

    python benchmarks/profile_summary.py DIR [--top 25]
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

#: (group, pattern on a frame "function (file:line)"), first match from the innermost frame outwards wins.
GROUPS = [
    ("idle (waiting in select/epoll)", r"\(selectors\.py|select \(|epoll"),
    ("SQLite (commit, fsync, queries)", r"simulator/database\.py|sqlite3|journal\.py:.*(record|_trim)"),
    ("TLS (handshake, encryption)", r"\(ssl\.py|sslproto\.py|do_handshake|_ssl"),
    ("document rules and schema validation", r"schemas/(validation|loader|rules)|jsonschema"),
    ("journal masking", r"simulator/(journal|masking)\.py"),
    ("HTTP client (httpx, httpcore)", r"httpx/|httpcore/"),
    ("HTTP server (uvicorn, h11)", r"uvicorn/|h11/"),
    ("Starlette routing and middleware", r"starlette/"),
    ("JSON", r"json/"),
    ("asyncio scheduling and sockets", r"asyncio/"),
    ("threads", r"threading\.py|concurrent/"),
]


def group_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, pattern in GROUPS:
            if re.search(pattern, frame):
                return name
    return "other"


def summarise(path: Path, top: int) -> None:
    groups: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack_text.split(";")
        n = int(count)
        total += n
        groups[group_of(frames)] += n
        leaves[frames[-1]] += n
    print(f"\n== {path.stem}: {total} samples")
    for name, n in groups.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("  innermost frames:")
    for frame, n in leaves.most_common(top):
        print(f"  {100 * n / total:5.1f}%    {frame[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for path in sorted(args.folder.glob("*.txt")):
        summarise(path, args.top)


if __name__ == "__main__":
    main()
