"""The notice page every relay serves at http://<address>/, and its security.txt.

Pure logic: no host access. The page says what the address is (an exit of an
anonymity network), what the relay keeps (exactly what the settings make the
maintenance jobs do), how to block or filter it, its exit policy (from
``exitkit.policy.summarise``), whom to contact, and, for the jurisdictions the
operator chose, short legal notes.

The modules, each importing only the ones above it:

- ``texts``: the prose per language in ``languages/<lang>.yml`` (English is the
  reference every other file must match), loading, placeholders, checks;
- ``content``: the page's data from the settings (``NoticeContext`` and its
  parts), in one language: which sentence, which link, which value;
- ``render``: the page in every language and security.txt, through
  ``templates/notice/index.html.j2`` and ``security.txt.j2``;
- ``files``: the relay's files (pages, security.txt, the machine-readable
  policy, lighttpd's config) under ``DOCROOT``.

Import from ``exitkit.notice``; the modules are an internal layout.
"""

from exitkit.notice.content import (
    EXIT_POLICY_PATH,
    SECURITY_TXT_PATH,
    NoticeContext,
    external_links,
    language_links,
    mailto,
    notice_context,
    tel,
)
from exitkit.notice.files import DOCROOT, LIGHTTPD_CONF, notice_files, security_txt_expiry
from exitkit.notice.render import (
    render_fact_sheet,
    render_fact_sheets,
    render_notice,
    render_pages,
    render_security_txt,
)
from exitkit.notice.texts import (
    PLACEHOLDERS,
    REFERENCE_LANGUAGE,
    TEXTS_DIR,
    UNIT_PLACEHOLDERS,
    available_languages,
    compare_texts,
    default_language,
    flatten,
    load_texts,
    placeholders,
    text_problems,
)

__all__ = [
    "DOCROOT",
    "EXIT_POLICY_PATH",
    "LIGHTTPD_CONF",
    "PLACEHOLDERS",
    "REFERENCE_LANGUAGE",
    "SECURITY_TXT_PATH",
    "TEXTS_DIR",
    "UNIT_PLACEHOLDERS",
    "NoticeContext",
    "available_languages",
    "compare_texts",
    "default_language",
    "external_links",
    "flatten",
    "language_links",
    "load_texts",
    "mailto",
    "notice_context",
    "notice_files",
    "placeholders",
    "render_fact_sheet",
    "render_fact_sheets",
    "render_notice",
    "render_pages",
    "render_security_txt",
    "security_txt_expiry",
    "tel",
    "text_problems",
]
