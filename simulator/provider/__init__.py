"""The reference provider: a correct kit-v1 EMR connector serving a generated scenario."""

from .app import create_provider_app
from .core import ProviderCore
from .scenario import Scenario

__all__ = ["ProviderCore", "Scenario", "create_provider_app"]
