"""Network checks S24-NET-* and ``s24kit doctor``: probes (probes.py), the shared context (target.py),
the registered checks (checks.py), the layered diagnosis (doctor.py) and its texts (diagnoses.toml)."""
