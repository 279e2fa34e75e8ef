"""The name of the profile the kit speaks, importable without loading any schema or validator."""

PROFILE = "kit-v1"
