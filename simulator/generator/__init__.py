"""The synthetic scenario generator: patients, policies, visits and their documents, consistent by construction.

Modules, one job each:

- ``context``: the options of ``s24kit generate`` (defaults, checks) and the read-only context of a scenario;
- ``tables`` / ``catalog``: code lists and weighted draws / the care model as data (kinds of episode);
- ``population``: the provider network and the patients;
- ``policies``: indemnity policies by generation (fixtures/population/generation-mix.json);
- ``care``: episodes, visits, amounts and the four kit-v1 documents (built by ``simulator.documents``);
- ``hardcases``: the deliberate hard cases and the tags of every visit that is one;
- ``claims``: patient claims and the expected payout per insurer (``simulator.payout``);
- ``emr_seed``: the neutral EMR seed tables (fixtures/population/EMR-SEED-FORMAT.md);
- ``scenario``: drawing patients in a process pool and writing the scenario directory.

Entry points: ``scenario.write_scenario(out, Options(...).resolved(), workers=N)`` and, in-process,
``scenario.Generator(options).patient(index)`` or ``scenario.chunks(options)``.
"""
