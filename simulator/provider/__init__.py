"""The reference provider: a correct kit-v1 EMR connector serving a generated scenario."""

from .app import create_provider_app
from .scenario import Scenario

__all__ = ["Scenario", "create_provider_app"]
