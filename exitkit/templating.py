"""The kit's one place for templates: where they are, and the one Jinja environment that renders them.

The repository keeps them in templates/ at its top; a built wheel ships that folder
inside the package as exitkit/templates (pyproject.toml maps it), so an installed
kit renders without a checkout. Config files are rendered as they are written;
HTML templates (``*.html.j2``) are autoescaped, so an operator's value never
becomes markup.
"""

from __future__ import annotations

import ipaddress
import re
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

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=HTML_SUFFIXES, disabled_extensions=(),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["breakable"] = breakable
    return env


def render(name: str, **values) -> str:
    """A template from TEMPLATES by its path there, such as ``tor/torrc.j2``."""
    return environment().get_template(name).render(**values)


_DNS_NAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?")


def break_points(value: str) -> tuple[str, ...]:
    """Where an address or name may wrap on a narrow screen: its pieces, in order.

    An IPv6 address (alone, bracketed with a port, or with a prefix) may wrap
    after each colon, a DNS name before each dot that starts a label with a letter
    (so a reversed IPv4 address in it stays whole); anything else (an IPv4
    address, a port, a range) is one piece and never wraps.
    """
    text = str(value)
    if text.count(":") >= 2 and _looks_ipv6(text):
        return tuple(piece for piece in re.split(r"(?<=:)(?!:)", text) if piece)
    if _DNS_NAME.fullmatch(text):
        return tuple(piece for piece in re.split(r"(?=\.[A-Za-z0-9-]*[A-Za-z])", text) if piece)
    return (text,)


def _looks_ipv6(text: str) -> bool:
    core = text.strip("[]").split("]")[0].split("/")[0]
    try:
        return ipaddress.ip_address(core).version == 6
    except ValueError:
        return False


def breakable(value):
    """HTML for an address or name that wraps only between its pieces (``break_points``), never inside one."""
    import markupsafe

    pieces = break_points(str(value))
    if len(pieces) == 1:
        return markupsafe.escape(pieces[0])
    inner = markupsafe.Markup("<wbr>").join(
        markupsafe.Markup('<span class="nb">{}</span>').format(piece) for piece in pieces)
    return markupsafe.Markup('<span class="wrap">{}</span>').format(inner)
