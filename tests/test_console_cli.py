"""``s24kit console``: --init prints a one-time password that works once and must be changed; the console
serves HTTPS with --cert/--key on loopback; the command line stays light (no SQLAlchemy before it runs)."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trustme
from click.testing import CliRunner

from s24kit.conformance.cli import main

from .console_kit import CSRF

STARTUP_SECONDS = 60


def test_init_prints_a_one_time_password_that_must_be_changed(tmp_path: Path, console_database: str) -> None:
    state = tmp_path / "state"
    result = CliRunner().invoke(main, ["console", "--state", str(state), "--database", console_database,
                                       "--init", "--username", "chief"])
    assert result.exit_code == 0, result.output
    password = re.search(r"one-time password: (\S+)", result.output).group(1)
    assert "관리자 계정을 만들었습니다: chief / admin account chief created" in result.output
    again = CliRunner().invoke(main, ["console", "--state", str(state), "--database", console_database,
                                      "--init", "--username", "chief"])
    assert again.exit_code == 2 and "chief" in again.stderr and password not in again.output

    from s24kit.conformance.console import accounts
    from s24kit.conformance.console.db import prepare

    database = prepare(console_database)
    with database.engine.begin() as connection:
        account = accounts.authenticate(connection, "chief", password)
    database.engine.dispose()
    assert account is not None and account.role == "admin" and account.must_change_password


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_console_serves_https_with_a_secure_session_cookie(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "console.pem", tmp_path / "console.key", tmp_path / "ca.pem"
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    ca.cert_pem.write_to_path(str(ca_file))
    port = _free_port()
    command = [sys.executable, "-m", "s24kit.conformance.cli", "console", "--state", str(tmp_path / "state"),
               "--listen", f"127.0.0.1:{port}", "--cert", str(cert), "--key", str(key)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=5) as client:
            answer = _first_answer(server, lambda: client.get(f"https://127.0.0.1:{port}/login"))
            assert answer.status_code == 200 and CSRF.search(answer.text)
            cookie = answer.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
            assert client.get(f"https://127.0.0.1:{port}/sites").headers["location"].startswith("/login")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _first_answer(server: subprocess.Popen, ask: Callable[[], httpx.Response]) -> httpx.Response:
    """``ask()``'s answer once the console ``server`` runs answers (fails if it exits or is not up in time)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            return ask()
        except httpx.TransportError:
            assert server.poll() is None, server.communicate()
            if time.monotonic() > deadline:
                pytest.fail(f"the console did not answer within {STARTUP_SECONDS} s")
            time.sleep(0.3)


def test_the_command_line_does_not_load_the_console_to_start() -> None:
    probe = ("import sys; from s24kit.conformance.cli import main; main.get_command(None, 'console'); "
             "heavy = [m for m in ('sqlalchemy', 'alembic', 'argon2', 'uvicorn') if m in sys.modules]; "
             "print(heavy)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_busy_port_is_one_line_naming_listen_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["console", "--state", str(tmp_path / "state"), "--workers", "0",
                                           "--listen", f"127.0.0.1:{port}"])
    assert result.exit_code == 2, result.output
    assert "s24kit console: http" not in result.output  # no banner for a console that is not there
    assert result.output.count("\n") == 1 and f"--listen 127.0.0.1:{port}" in result.output
    assert "already in use" in result.output and "이미 다른 프로그램이 쓰고 있습니다" in result.output
    assert "Errno" not in result.output
    state = tmp_path / "state"  # a fresh state folder: nothing made in it for a console that never started
    assert not state.exists() or list(state.iterdir()) == [], list(state.iterdir())


def test_ctrl_c_stops_the_console_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    command = [sys.executable, "-m", "s24kit.conformance.cli", "console", "--state", str(tmp_path / "state"),
               "--workers", "0", "--listen", f"127.0.0.1:{port}"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert _first_answer(server, lambda: httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)).status_code == 200
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, (out, err)
    assert "정상 종료 / stopped cleanly" in out
    assert "Aborted" not in out + err and "Traceback" not in err
