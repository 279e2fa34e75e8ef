"""The conformance suite: requirement catalogue, checks, pytest plugin, runner, reports and the CLI."""
