"""The fake relay: patient claims in, documents pulled from providers (or served to agents), forwarded to
insurers, their events applied in order — with retries, dead letters and a journal of every exchange."""

from .app import create_relay_app, relay_client
from .config import ConfigError, Mode, ProviderRegistration, RelayConfig
from .engine import Relay

__all__ = ["ConfigError", "Mode", "ProviderRegistration", "Relay", "RelayConfig", "create_relay_app",
           "relay_client"]
