"""A fake insurer: receives claims from the relay, adjudicates them and posts status events back."""

from .app import create_insurer_app
from .config import Behaviour, InsurerConfig

__all__ = ["Behaviour", "InsurerConfig", "create_insurer_app"]
