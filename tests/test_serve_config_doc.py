"""docs/serve.md and fixtures/serve.example.toml say what the `s24kit serve --config` loader does."""

from __future__ import annotations

import re
import tomllib

import yaml

from s24kit.simulator.stack_config import DEFAULT_PORTS, TOP_LEVEL, serve_config_from

from .conftest import ROOT

EXAMPLE = ROOT / "fixtures" / "serve.example.toml"
PAGE = (ROOT / "docs" / "serve.md").read_text(encoding="utf-8")


def test_the_commented_example_loads_as_it_is() -> None:
    config = serve_config_from(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")), EXAMPLE.parent)
    assert config.relay_port == DEFAULT_PORTS["relay"] and config.reference_port == DEFAULT_PORTS["provider"]
    assert config.insurer_ports == {"INSA": DEFAULT_PORTS["insurer"], "INSB": DEFAULT_PORTS["insurer"] + 1}
    assert [p.code for p in config.external] == ["99310001"] and config.faults is not None


def test_every_top_level_key_is_documented_and_shown() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    shown = set(example) | set(re.findall(r"^# (\w+) =", EXAMPLE.read_text(encoding="utf-8"), re.M))
    assert shown >= TOP_LEVEL, TOP_LEVEL - shown
    for key in TOP_LEVEL:
        assert re.search(rf"`\[{{0,2}}{key}\]{{0,2}}`", PAGE), key


def test_the_ports_agree_with_the_loader_and_openapi() -> None:
    servers = {s["url"] for path in yaml.safe_load((ROOT / "schemas" / "kit-v1" / "openapi.yaml").read_text(
        encoding="utf-8"))["paths"].values() for s in path.get("servers", [])}
    for party, port in DEFAULT_PORTS.items():
        assert f"| {port}" in PAGE, party
        assert f"https://127.0.0.1:{port}" in servers, party
