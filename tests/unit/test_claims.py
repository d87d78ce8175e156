"""The claims registry: every statement a rendered page makes has a check, and the judges read real outputs right.

Which keys a page states is read from the rendered HTML and security.txt, for
many settings in every language; nothing here lists which keys a page uses.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from pathlib import Path

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from exitkit import notice, policy
from exitkit.notice import claims
from exitkit.notice.content import page_texts
from exitkit.settings import NETWORKS, RelaySettings
from exitkit.tor import instances

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "203.0.113.7"
HOSTNAME = "tor-exit-1.example.org"


def relay(**overrides) -> RelaySettings:
    values = dict(nickname="exitkit1", operator_name="Example Privacy e.V.", abuse_email="abuse@example.org",
                  public_ipv4=ADDRESS)
    values.update(overrides)
    return RelaySettings(**values)


def fingerprints_of(settings: RelaySettings) -> dict[str, str]:
    """A fingerprint for each tor instance's data dir, as tor makes them at its first start."""
    return {instance.data_dir: f"{instance.number:040X}" for instance in instances(settings)}


def rendered_keys(settings: RelaySettings, lang: str, reboot_time: str = "03:15", keys_made: bool = True) -> set[str]:
    """The text keys the page (in ``lang``) and security.txt state for these settings (once tor made its keys,
    or before, as a first converge plans the page)."""
    built = policy.build_policy(settings.exit_policy, list(settings.exit_policy_rules), ipv6_exit=settings.ipv6_exit,
                                own_addresses=[ADDRESS], exit_relay=policy.is_exit_preset(settings.exit_policy))
    summary = policy.summarise(built)
    fingerprints = fingerprints_of(settings) if keys_made else {}
    html = notice.render_notice(settings, policy_summary=summary, address=ADDRESS, hostname=HOSTNAME,
                                reboot_time=reboot_time, lang=lang, fingerprints=fingerprints)
    html += notice.render_fact_sheet(settings, policy_summary=summary, address=ADDRESS, hostname=HOSTNAME,
                                     reboot_time=reboot_time, lang=lang, fingerprints=fingerprints)
    security = notice.render_security_txt(settings, hostname=HOSTNAME, expires=datetime(2099, 1, 1),
                                          is_exit=summary.is_exit)
    keys = claims.keys_in(html, page_texts(settings, lang, address=ADDRESS, reboot_time=reboot_time))
    return keys | claims.keys_in(security, page_texts(settings, "en", address="", reboot_time=None))


relays = st.builds(
    relay,
    network=st.sampled_from(NETWORKS),
    exit_policy=st.sampled_from(("tor-reduced", "tor-default", "web", "reject-all")),
    access_log=st.booleans(),
    reboot=st.sampled_from(("nightly", "when-required", "never")),
    security_updates=st.booleans(),
    dns_forwarders=st.sampled_from(((), ("192.0.2.53",))),
    tor_package_source=st.sampled_from(("debian", "torproject")),
    daemon_no_traffic_logs=st.booleans(),
    tor_instances=st.integers(1, 3),
    response_time_hours=st.sampled_from((0, 48)),
    postal_address=st.sampled_from(("", "Beispielstraße 1, 10115 Berlin")),
    ipv6_exit=st.booleans(),
    jurisdictions=st.sampled_from(((), ("us", "de", "jp", "eu"))),
)


@hypothesis_settings(max_examples=40, deadline=None)
@given(relays, st.sampled_from(notice.available_languages()), st.booleans())
def test_every_statement_a_page_renders_is_a_claim_with_a_check_or_excused(settings, lang, keys_made):
    keys = rendered_keys(settings, lang, keys_made=keys_made)
    assert keys, "nothing of the texts was found on the page"
    unchecked = {key for key in keys if claims.claim_of(key) and not claims.claim_of(key).checks_for(settings.network)}
    unknown = {key for key in keys if not claims.claim_of(key) and not claims.not_a_claim(key)}
    assert not unchecked, f"claims rendered for {settings.network} without a check there: {sorted(unchecked)}"
    assert not unknown, (f"text keys on the page that are neither a claim nor excused in NOT_CLAIMS: {sorted(unknown)};"
                         " declare them in exitkit/notice/claims.py")


def test_every_claim_key_exists_and_every_text_is_reachable():
    keys = notice.flatten(notice.load_texts("en"))
    for claim in claims.CLAIMS:
        for pattern in claim.keys:
            assert any(fnmatch.fnmatchcase(key, pattern) for key in keys), f"{claim.id}: no text key {pattern}"
        assert claim.checks, claim.id


def test_law_texts_state_no_relay_fact_and_each_is_excused_by_name():
    """A law text that filled in a relay fact ({lifetime}, ...) would restate a claim without its check."""
    from exitkit.notice.texts import placeholders

    for lang in notice.available_languages():
        for key, text in notice.flatten(notice.load_texts(lang)["law"]).items():
            assert not placeholders(text), f"{lang}: law.{key} fills in a relay fact: {text}"
    for key in notice.flatten(notice.load_texts("en")["law"]):
        full = f"law.{key}"
        assert claims.claim_of(full) is None, full
        assert key.endswith("heading") or full in claims.NOT_CLAIMS, f"{full} is not excused by name in NOT_CLAIMS"
    assert not [pattern for pattern in claims.NOT_CLAIMS if pattern.startswith("law") and "*" in pattern]



def test_law_texts_name_the_sections_they_point_to_by_their_headings():
    """The German and Japanese law texts quote the records and investigators headings; a renamed heading must not
    leave a pointer to a section that no longer has that name."""
    import re

    quoted = {"de": re.compile("„([^“]+)“"), "ja": re.compile("「([^」]+)」の項目")}
    for lang, pattern in quoted.items():
        texts = notice.load_texts(lang)
        pointers = {name for text in notice.flatten(texts["law"]).values() for name in pattern.findall(text)}
        sections = {texts["records"]["heading"], texts["investigators"]["heading"]}
        assert sections <= pointers, f"{lang}: the law texts point to {sorted(pointers)}, not to {sorted(sections)}"


def test_a_page_that_exits_nowhere_says_so_and_never_that_it_is_an_exit():
    for network in NETWORKS:
        made = {c.id for c in claims.claims_made(rendered_keys(relay(network=network, exit_policy="reject-all"), "en"))}
        assert "not-exit" in made and "exit" not in made, (network, made)
        made = {c.id for c in claims.claims_made(rendered_keys(relay(network=network), "en"))}
        assert "exit" in made and "not-exit" not in made, (network, made)


def test_the_page_follows_the_policy_librarys_own_test_of_exiting_nowhere():
    """A policy built past the checks that accepts nothing (every accept hidden) reads as no exit."""
    hidden = policy.ExitPolicy("web", (policy.parse_rule("reject *:*"),), False)
    assert not policy.summarise(hidden).is_exit
    html = notice.render_notice(relay(network="tor"), policy_summary=policy.summarise(hidden), address=ADDRESS,
                                hostname=HOSTNAME, reboot_time="03:15", lang="en")
    assert "but not an exit" in html and "cannot have come from the people who use Tor" in html


def test_daemon_networks_state_only_what_the_kit_sets_up():
    for network in ("nym", "anyone", "mix"):
        keys = rendered_keys(relay(network=network), "en")
        assert "records.no_traffic" not in keys and "summary.no_records" not in keys
        assert {"daemon.records_kit", "daemon.unknown", f"policy.enforcement.{network}"} <= keys
        stated = rendered_keys(relay(network=network, daemon_no_traffic_logs=True), "en")
        assert {"daemon.statement", "daemon.summary_stated"} <= stated and "daemon.unknown" not in stated
    tor = rendered_keys(relay(network="tor", daemon_no_traffic_logs=True), "en")
    assert "records.no_traffic" in tor and not any(key.startswith("daemon.") for key in tor)


def test_own_connections_follow_the_settings():
    assert {"connections.dns_root", "connections.apt_debian", "connections.tor_relays"} <= rendered_keys(relay(), "en")
    forwarded = relay(dns_forwarders=("192.0.2.53",), tor_package_source="torproject")
    keys = rendered_keys(forwarded, "en")
    assert {"connections.dns_forwarders", "connections.apt_torproject"} <= keys and "connections.dns_root" not in keys
    web = policy.summarise(policy.build_policy("web", [], ipv6_exit=False))
    html = notice.render_notice(forwarded, policy_summary=web, address=ADDRESS, hostname=HOSTNAME,
                                reboot_time="03:15", lang="en")
    assert "(192.0.2.53)" in html and "starts no connections" not in html and "No connection begins here" not in html


def test_readme_lists_the_claims_as_generated():
    lines = (REPO / "README.md").read_text().splitlines()
    start, end = "<!-- claims-table:start -->", "<!-- claims-table:end -->"
    assert start in lines and end in lines, f"README.md lacks the lines {start} and {end}"
    block = "\n".join(lines[lines.index(start) + 1:lines.index(end)])
    assert block == claims.claims_table(), "README claims table is stale: python -m exitkit.notice.claims"


# ------------------------------------------------------------------ judges, on outputs as the relays print them
def subject(**overrides) -> claims.Subject:
    settings = relay(**overrides)
    built = policy.build_policy(settings.exit_policy, list(settings.exit_policy_rules),
                                ipv6_exit=settings.ipv6_exit, own_addresses=[ADDRESS],
                                exit_relay=policy.is_exit_preset(settings.exit_policy))
    return claims.Subject(settings, built)


def judge(claim_id: str, network: str, output, subj: claims.Subject) -> list[str]:
    claim = next(c for c in claims.CLAIMS if c.id == claim_id)
    return [problem for check in claim.checks_for(network) for problem in check.judge(output, subj)
            if isinstance(output, claims.HttpAnswer) == isinstance(check, claims.OverHttp)]


def test_torrc_judges_read_every_instance():
    subj = subject(tor_instances=2)
    good = "/etc/tor/torrc:ExitRelay 1\n/etc/tor/instances/i2/torrc:ExitRelay 1\nactive\nactive\n"
    check = claims.TORRC_EXIT
    assert check.judge(good, subj) == []
    assert "i2" in " ".join(check.judge(good.replace("instances/i2/torrc:ExitRelay 1", "instances/i2/torrc:x"), subj))
    assert "failed" in " ".join(check.judge(good.replace("active\nactive", "active\nfailed"), subj))
    assert claims.TORRC_NOT_EXIT.judge(good, subj)


def test_nft_judges_tell_an_exit_from_a_relay_that_exits_nowhere():
    exit_subject, closed = subject(), subject(exit_policy="reject-all")
    loaded = policy.render_nftables(exit_subject.policy, "eth0")
    output = f"{loaded}----- live\n" + loaded.split("table inet exitkit {", 1)[1]
    assert claims.NFT_ACCEPTS.judge(output, exit_subject) == []
    assert claims.NFT_POLICY.judge(output, exit_subject) == []
    assert claims.NFT_ACCEPTS_NONE.judge(output, exit_subject)
    none = policy.render_nftables(closed.policy, "eth0")
    assert claims.NFT_ACCEPTS_NONE.judge(f"{none}----- live\n{none}", closed) == []
    assert claims.NFT_POLICY.judge(f"{none}----- live\n{loaded}", closed)  # another table loaded than written
    assert claims.NFT_ACCEPTS.judge("----- live\nError: No such file or directory", exit_subject)


def test_resolver_judge_names_the_forwarders():
    assert judge("connects-dns", "tor", "answers\n", subject()) == []
    forwarded = subject(dns_forwarders=("192.0.2.53",))
    assert judge("connects-dns", "tor", "answers\n. IN forward 192.0.2.53\n", forwarded) == []
    assert judge("connects-dns", "tor", "answers\n. IN forward 192.0.2.53\n", subject())
    assert judge("connects-dns", "tor", "", subject())


def test_apt_origin_judge():
    assert judge("connects-apt", "tor", "Origin: Debian\n", subject()) == []
    assert judge("connects-apt", "tor", "Origin: Debian\nOrigin: Ubuntu\n", subject())
    assert judge("connects-apt", "tor", "Origin: Debian\n", subject(tor_package_source="torproject"))
    assert judge("connects-apt", "tor", "Origin: Debian\nOrigin: TorProject\n",
                 subject(tor_package_source="torproject")) == []


def test_page_loads_nothing_judge():
    csp = {"Content-Security-Policy": "default-src 'none'"}
    assert judge("page-loads-nothing", "tor", claims.HttpAnswer(200, csp, "<p>x</p>"), subject()) == []
    assert judge("page-loads-nothing", "tor", claims.HttpAnswer(200, csp, '<img src="http://x/">'), subject())
    assert judge("page-loads-nothing", "tor", claims.HttpAnswer(200, {}, "<p>x</p>"), subject())


def test_access_log_judges():
    off = 'server.modules = ("mod_access")\n'
    on = 'server.modules = ("mod_access", "mod_accesslog")\naccesslog.format = "%t \\"%r\\" %>s %b"\n'
    assert judge("web-no-log", "tor", off, subject()) == [] and judge("web-no-log", "tor", on, subject())
    assert judge("web-log", "tor", on, subject(access_log=True)) == []
    assert judge("web-log", "tor", on.replace("%t", "%h %t"), subject(access_log=True))


def enforcement_problems(output: str, subj: claims.Subject) -> list[str]:
    claim = next(c for c in claims.CLAIMS if c.id == "enforcement")
    (_, nft), *_ = claim.checks
    return nft.judge(output, subj)


def test_enforcement_judge_follows_the_exit_address():
    plain, bound = subject(), subject(outbound_bind_address_exit="198.51.100.20")
    for subj in (plain, bound):
        table = policy.render_nftables(subj.policy, "eth0", exit_addresses=policy.exit_addresses(subj.settings))
        assert enforcement_problems(f"----- live\n{table}", subj) == [], subj.settings
    unbound_table = policy.render_nftables(plain.policy, "eth0")
    assert "198.51.100.20" in " ".join(enforcement_problems(f"----- live\n{unbound_table}", bound))
    bound_table = policy.render_nftables(bound.policy, "eth0", exit_addresses=["198.51.100.20"])
    assert enforcement_problems(f"----- live\n{bound_table}", plain)  # an output chain the page denies


def test_a_tor_page_claims_its_fingerprints_only_once_tor_made_them():
    made = {c.id for c in claims.claims_made(rendered_keys(relay(network="tor", tor_instances=2), "en"))}
    assert {"tor-nicknames", "tor-fingerprints"} <= made
    before = {c.id for c in claims.claims_made(rendered_keys(relay(network="tor"), "en", keys_made=False))}
    assert "tor-nicknames" in before and "tor-fingerprints" not in before
    for network in ("nym", "anyone", "mix"):
        assert "tor-fingerprints" not in {c.id for c in claims.claims_made(rendered_keys(relay(network=network), "en"))}


def fingerprint_check_output(root: Path, settings: RelaySettings, on_page: dict[str, str],
                             in_files: dict[str, str]) -> str:
    """The fingerprint check's own command run over a relay's tree made under ``root``: tor's fingerprint files
    (``in_files``, by data dir) and the pages and fact sheets rendered with ``on_page``."""
    import subprocess

    from exitkit.notice import DOCROOT, notice_files

    for data_dir, fingerprint in in_files.items():
        nickname = next(i.nickname for i in instances(settings) if i.data_dir == data_dir)
        (root / data_dir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / data_dir.lstrip("/") / "fingerprint").write_text(f"{nickname} {fingerprint}\n")
    for file in notice_files(settings, policy.build_policy("tor-reduced", [], ipv6_exit=False), hostname=HOSTNAME,
                             reboot_time="03:15", now=datetime(2026, 11, 30), fingerprints=on_page):
        if file.path.startswith(DOCROOT):
            (root / file.path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / file.path.lstrip("/")).write_text(file.content)
    subj = claims.Subject(settings, policy.build_policy("tor-reduced", [], ipv6_exit=False))
    (check,) = claims.claim_of("investigators.fingerprints").checks_for("tor")
    assert check.command is claims.fingerprints_command  # the fleet's check, only under another root
    return subprocess.run(["sh", "-c", claims.fingerprints_command(subj, str(root))], capture_output=True, text=True,
                          check=True).stdout


def test_fingerprint_judge_reads_tors_files_and_every_served_page(tmp_path):
    pgp = "0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567"  # grouped like a tor fingerprint: not one
    settings = relay(network="tor", tor_instances=2, pgp_fingerprint=pgp)
    subj = claims.Subject(settings, policy.build_policy("tor-reduced", [], ipv6_exit=False))
    judge = claims.claim_of("investigators.fingerprints").checks_for("tor")[0].judge
    tor_made = fingerprints_of(settings)
    good = fingerprint_check_output(tmp_path / "good", settings, tor_made, tor_made)
    assert good.count("exitkit12 <a href=") == 7  # index.html, three pages, three fact sheets
    assert judge(good, subj) == []
    other = {**tor_made, "/var/lib/tor": "F" * 40}
    stale = judge(fingerprint_check_output(tmp_path / "stale", settings, other, tor_made), subj)
    assert len(stale) == 7 and "F" * 40 in stale[0]
    missing = judge(fingerprint_check_output(tmp_path / "missing", settings, {}, tor_made), subj)
    assert len(missing) == 7  # pages planned before tor made its keys and never completed
    no_key = judge(fingerprint_check_output(tmp_path / "no-key", settings, {}, {}), subj)
    assert sum("tor has made no key" in problem for problem in no_key) == 2
    default, i2 = tor_made.values()
    swapped = {"/var/lib/tor": i2, "/var/lib/tor-instances/i2": default}  # each beside the other's nickname
    assert len(judge(fingerprint_check_output(tmp_path / "swapped", settings, swapped, tor_made), subj)) == 7
