"""The kit's templates (templates/ at the project's top), found by absolute path."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, autoescape=False)


def render(name: str, **values) -> str:
    """A template from templates/; a missing value is an error, not a blank."""
    return _environment().get_template(name).render(**values)
