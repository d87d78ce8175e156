"""The kit's one place for templates: where they are, and the one Jinja environment that renders them.

The repository keeps them in templates/ at its top; a built wheel ships that folder
inside the package as exitkit/templates (pyproject.toml maps it), so an installed
kit renders without a checkout. Config files are rendered as they are written;
HTML templates (``*.html.j2``) are autoescaped, so an operator's value never
becomes markup.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _templates_folder() -> Path:
    """exitkit/templates in an installed kit, else the source tree's templates/ (a checkout, an editable install)."""
    installed, checkout = _PACKAGE / "templates", _PACKAGE.parent / "templates"
    return installed if installed.is_dir() else checkout


#: The folder every template and static file of the kit is read from. A real folder,
#: not a zip entry: pyinfra uploads some of these files by their path.
TEMPLATES = _templates_folder()

#: Template names that end like this are HTML and autoescaped.
HTML_SUFFIXES = ("html", "htm", "html.j2", "htm.j2")


@lru_cache(maxsize=1)
def environment():
    """The one Jinja environment: a missing value is an error, not a blank; block tags take their own line."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=HTML_SUFFIXES, disabled_extensions=(),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, **values) -> str:
    """A template from TEMPLATES by its path there, such as ``tor/torrc.j2``."""
    return environment().get_template(name).render(**values)
