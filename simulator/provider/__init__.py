"""The reference provider: a correct kit-v1 EMR connector serving a generated scenario (pull or agent)."""

from .agent import ProviderAgent
from .app import create_provider_app
from .core import ProviderCore
from .scenario import Scenario

__all__ = ["ProviderAgent", "ProviderCore", "Scenario", "create_provider_app"]
