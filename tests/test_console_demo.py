"""``s24kit demo --console``: a fleet served, the console on it, the fleet imported, one product version
certified on the record (a full-suite run and a signed decision), the address and the login printed."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from sqlalchemy import select

from s24kit.conformance.cli import main
from s24kit.conformance.console import accounts
from s24kit.conformance.console.db import default_url, prepare
from s24kit.conformance.console.signing import PUBLIC_KEY_FILE
from s24kit.conformance.console.tables import decisions, product_versions, sites
from s24kit.conformance.reports.record import check_record, public_key_from_file


def test_demo_console_certifies_one_product_and_prints_the_login(tmp_path):
    state = tmp_path / "state"
    result = CliRunner().invoke(main, ["demo", "--console", "--sites", "4", "--port", "0", "--duration", "0",
                                       "--state", str(state), "--lang", "en"])
    assert result.exit_code == 0, result.output
    login = re.search(r"로그인 / log in: admin / (\S+)", result.output)  # both languages, whatever --lang
    assert login and re.search(r"http://127\.0\.0\.1:\d+/", result.output)
    assert "certified, decision" in result.output
    database = prepare(default_url(state), state_dir=state)
    try:
        with database.engine.begin() as connection:
            assert accounts.authenticate(connection, "admin", login.group(1)) is not None
            assert len(connection.execute(select(sites.c.id)).all()) == 4
            states = dict(connection.execute(select(product_versions.c.version, product_versions.c.state)).all())
            record = connection.execute(select(decisions.c.signed_record)).scalar_one()
    finally:
        database.engine.dispose()
    assert states["3.2.1"] == "certified" and list(states.values()).count("certified") == 1
    key = public_key_from_file((state / PUBLIC_KEY_FILE).read_bytes())
    assert check_record(json.loads(record), trusted_key=key).problems == []
