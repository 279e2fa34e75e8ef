"""The contract of profile kit-v1: JSON Schemas, compiled validators and the document rules."""
