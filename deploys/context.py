"""What a unit needs to know about the host it runs for: validated settings and plan."""

from __future__ import annotations

from pyinfra import host

from exitkit.settings import RelaySettings
from exitkit.templating import TEMPLATES, render  # noqa: F401  (the units' one way to render)


def relay_settings() -> RelaySettings:
    """The host's settings, exactly as the inventory loader validated and merged them."""
    return RelaySettings.from_data(host.data.dict())


def plan(key: str):
    """A fleet-wide result the inventory loader computed for this host (exitkit_<key>)."""
    return host.data.get(f"exitkit_{key}")


def plan_data() -> dict:
    """The host's part of the fleet plan (exitkit_<key>), the input exitkit.configs takes."""
    return {key: value for key, value in host.data.dict().items() if key.startswith("exitkit_")}
