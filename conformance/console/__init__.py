"""The acceptance console for relay staff (issue 13): register, runs, batches, decisions (docs/console.md)."""
