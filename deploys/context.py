"""What a unit needs to know about the host it runs for: validated settings and plan."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host

from exitkit.settings import RelaySettings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def relay_settings() -> RelaySettings:
    """The host's settings, exactly as the inventory loader validated and merged them."""
    return RelaySettings.from_data(host.data.dict())


def plan(key: str):
    """A fleet-wide result the inventory loader computed for this host (exitkit_<key>)."""
    return host.data.get(f"exitkit_{key}")


_templates = None


def render(name: str, **values) -> str:
    """A template from templates/, by absolute path; a missing value is an error, not a blank."""
    global _templates
    if _templates is None:
        import jinja2

        _templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                                        undefined=jinja2.StrictUndefined, autoescape=False)
    return _templates.get_template(name).render(**values)
