"""``python -m s24kit.conformance.cli`` runs the ``s24kit`` command."""

from . import main

main()
