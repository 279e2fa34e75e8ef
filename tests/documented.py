"""Run the commands the documentation shows, as a newcomer would type them, from an empty folder.

A fenced shell block is marked for a test by an HTML comment on the line before its fence
(``<!-- test: NAME -->``, invisible when the page is rendered). :func:`marked_blocks` extracts them;
:func:`run_shell` runs their lines with ``bash -e`` in a folder, with the kit's commands, ``pytest`` and
``node`` on PATH. The only change made to the lines is the documented port (8443), replaced by a free one so
that tests running side by side do not collide. Background processes the lines start (the connector) are
stopped with the whole process group afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

DOCUMENTED_PORT = "8443"
NODE_EXAMPLE = ROOT / "examples" / "node-provider"
_FENCE = re.compile(r"^<!-- test: (?P<name>[\w-]+) -->\n```(?:sh|bash|shell)[^\n]*\n(?P<body>.*?)^```", re.S | re.M)


def marked_blocks(page: Path, name: str) -> list[str]:
    """The bodies of the fenced shell blocks of ``page`` marked ``<!-- test: name -->``, in page order."""
    return [m["body"] for m in _FENCE.finditer(page.read_text(encoding="utf-8")) if m["name"] == name]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_environment() -> dict[str, str]:
    """This environment without pytest's and xdist's own variables, with the venv's commands on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "S24KIT_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_shell(script: str, cwd: Path, *, port: int, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with ``bash -e`` in ``cwd`` (port 8443 → ``port``); stop what it left running."""
    body = re.sub(rf"(?<!\d){DOCUMENTED_PORT}(?!\d)", str(port), script)
    process = subprocess.Popen(["bash", "-e", "-c", body], cwd=cwd, env=env or child_environment(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group this call started: the connector left running
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


def copy_node_example(folder: Path) -> Path:
    """The Node example as a vendor's connector repository would hold it: ``folder/connector/``."""
    return Path(shutil.copytree(NODE_EXAMPLE, folder / "connector"))
