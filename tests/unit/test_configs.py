"""Every file the kit writes, rendered without any host, and `exitkit render` that writes them to a folder.

The deploy units write exactly what exitkit.configs returns (deploys/ops.write_config);
the fleet test tests/fleet/test_previews.py reads the files back from converged relays.
"""

from __future__ import annotations

import dataclasses
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from exitkit import configs, control
from exitkit.configs import ConfigFile, relay_files, write_tree
from exitkit.loader import check_values, load_fleet
from exitkit.maintenance.files import REBOOT_SERVICE, REBOOT_TIMER
from exitkit.model import Fleet, Relay
from exitkit.notice import LIGHTTPD_CONF
from exitkit.plan import exit_policy_of, plan_fleet
from exitkit.policy import render_nftables, render_nym
from exitkit.settings import LANGUAGES, NETWORKS, REBOOT_MODES, RelaySettings
from exitkit.templating import TEMPLATES

PROJECT = Path(__file__).resolve().parents[2]
DEMO = PROJECT / "inventory" / "demo.py"
NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def exitkit(*args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exitkit", *args], cwd=cwd, text=True, capture_output=True)


@pytest.fixture(scope="module")
def demo():
    """The demo fleet and its plan, loaded as pyinfra loads it from the project's folder."""
    fleet = load_fleet(DEMO, cwd=PROJECT)
    return fleet, plan_fleet(fleet)


def files_of(demo, name: str) -> dict[str, ConfigFile]:
    fleet, plans = demo
    return configs.by_path(relay_files(fleet.relay(name).settings, plans[name], NOW))


def tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ the library
def test_every_demo_relay_renders_every_concern(demo):
    fleet, plans = demo
    for relay in fleet.relays:
        files = files_of(demo, relay.name)
        assert set(files) == {
            "/etc/exitkit/exit-policy.nft", "/etc/systemd/system/exitkit-exit-policy.service",
            "/var/www/exitkit/index.html", "/var/www/exitkit/index.en.html", "/var/www/exitkit/index.de.html",
            "/var/www/exitkit/index.ja.html", "/var/www/exitkit/.well-known/security.txt",
            "/var/www/exitkit/facts.en.html", "/var/www/exitkit/facts.de.html", "/var/www/exitkit/facts.ja.html",
            "/var/www/exitkit/exit-policy.txt", "/etc/lighttpd/lighttpd.conf",
            "/etc/systemd/journald.conf.d/exitkit.conf", "/etc/systemd/system/exitkit-purge.service",
            "/etc/systemd/system/exitkit-purge.timer", "/usr/local/sbin/exitkit-purge",
            "/etc/apt/apt.conf.d/52exitkit-unattended-upgrades",
            "/usr/local/sbin/exitkit-reboot", "/etc/systemd/system/exitkit-reboot.service",
            "/etc/systemd/system/exitkit-reboot.timer",
            "/etc/unbound/unbound.conf.d/exitkit.conf", "/etc/resolv.conf",
            "/etc/dhcp/dhclient-enter-hooks.d/exitkit-keep-resolv-conf", "/etc/hostname", "/etc/hosts",
        } | ({"/etc/tor/torrc", "/usr/local/sbin/exitkit-tor-applied",
              "/etc/systemd/system/tor@.service.d/exitkit.conf"}
             if relay.settings.network == "tor" else set()), relay.name
        assert {path: f.check for path, f in files.items() if f.check and "tor" not in path} == {
            "/etc/unbound/unbound.conf.d/exitkit.conf": "unbound-checkconf {path} >/dev/null",
            "/etc/resolv.conf": "unbound-control -c /etc/unbound/unbound.conf status >/dev/null",
            "/etc/exitkit/exit-policy.nft": "nft -c -f {path}",
            "/etc/lighttpd/lighttpd.conf": "lighttpd -tt -f {path}",
            "/etc/apt/apt.conf.d/52exitkit-unattended-upgrades": "apt-config -c {path} dump >/dev/null",
            "/usr/local/sbin/exitkit-purge": "bash -n {path}",
            "/usr/local/sbin/exitkit-reboot": "sh -n {path}",
        }
        assert files["/usr/local/sbin/exitkit-reboot"].mode == "755"
        assert files["/usr/local/sbin/exitkit-purge"].mode == "755"
        if relay.settings.network == "tor":
            assert files["/etc/tor/torrc"].check.startswith("tor --verify-config")
        assert all(f.content for f in files.values())


def test_nftables_file_is_the_policy_rendering(demo):
    fleet, _ = demo
    for relay in fleet.relays:
        s = relay.settings
        assert files_of(demo, relay.name)["/etc/exitkit/exit-policy.nft"].content == \
            render_nftables(exit_policy_of(s), s.exit_interface)
        assert files_of(demo, relay.name)["/var/www/exitkit/exit-policy.txt"].content == render_nym(exit_policy_of(s))
    # the nym gateway's complaint entry is enforced, with its note
    assert "198.51.100.7" in files_of(demo, "relay-2")["/etc/exitkit/exit-policy.nft"].content


def test_lighttpd_config_structure(demo):
    """lighttpd is not on the control machine: the config's shape is checked here, lighttpd -tt on the relays."""
    fleet, plans = demo
    for relay in fleet.relays:
        text = files_of(demo, relay.name)["/etc/lighttpd/lighttpd.conf"].content
        assert text.count("{") == text.count("}") and text.count("(") == text.count(")")
        assert 'server.document-root = "/var/www/exitkit"' in text
        assert re.search(rf"^server\.port\s+= {relay.settings.http_port}$", text, re.M)
        assert f'server.name          = "{plans[relay.name].hostname}"' in text
        # every language but the relay's own is reachable through Accept-Language
        rewritten = set(re.findall(r'=> "/index\.(\w+)\.html"', text))
        default = relay.settings.language
        assert rewritten == set(LANGUAGES) - {default}, relay.name
        assert "accesslog" not in text  # the demo keeps no access log


def test_reboot_timer_follows_the_fleet_plan(demo):
    fleet, plans = demo
    for relay in fleet.relays:
        timer = files_of(demo, relay.name)["/etc/systemd/system/exitkit-reboot.timer"].content
        assert f"OnCalendar={plans[relay.name].reboot.on_calendar}\n" in timer


def test_no_reboot_timer_when_reboots_are_off(demo):
    fleet, plans = demo
    relay = fleet.relay("relay-1")
    never = RelaySettings(**{**vars(relay.settings), "reboot": "never"})
    paths = {f.path for f in relay_files(never, plans["relay-1"], NOW)}
    assert "/usr/local/sbin/exitkit-reboot" in paths
    assert not paths & {REBOOT_TIMER, REBOOT_SERVICE}


def test_static_templates_are_copied_byte_for_byte(demo):
    files = files_of(demo, "relay-1")
    assert files["/usr/local/sbin/exitkit-reboot"].content.encode() == \
        (TEMPLATES / "maintenance/exitkit-reboot.sh").read_bytes()


def test_security_txt_expiry_is_stable_within_a_month(demo):
    fleet, plans = demo
    relay = fleet.relay("relay-1")
    deployed = dataclasses.replace(plans["relay-1"], in_service_since="2026-02-27")  # re-runs: the history has it
    early, late = (configs.by_path(relay_files(relay.settings, deployed, datetime(2026, 3, d, tzinfo=UTC)))
                   for d in (1, 31))
    assert early == late
    assert "Expires: 2027-02-01T00:00:00Z" in early["/var/www/exitkit/.well-known/security.txt"].content


def test_a_path_written_twice_is_refused(monkeypatch):
    twice = (lambda s, plan, now, families, release, fingerprints: [ConfigFile("/etc/x", "a\n")],) * 2
    monkeypatch.setattr(configs, "CONCERNS", twice)
    with pytest.raises(ValueError, match="/etc/x is written by two concerns"):
        relay_files(RelaySettings(), {}, NOW)


def test_a_config_file_needs_an_absolute_path_and_an_octal_mode():
    with pytest.raises(ValueError):
        ConfigFile("etc/x", "")
    with pytest.raises(ValueError):
        ConfigFile("/etc/x", "", mode="rwx")


# ------------------------------------------------------------------ hypothesis: valid settings always render
RAW_SETTINGS = st.fixed_dictionaries({
    "network": st.sampled_from(NETWORKS),
    "language": st.sampled_from(LANGUAGES),
    "jurisdictions": st.lists(st.sampled_from(("us", "de", "jp", "eu")), unique=True, max_size=4),
    "exit_policy": st.sampled_from(("tor-reduced", "tor-default", "web", "reject-all")),
    "exit_policy_rules": st.lists(st.sampled_from((
        "reject 198.51.100.7:443", {"rule": "reject 203.0.113.0/24:*", "note": "ticket 1"},
        "reject *:25", "reject6 [2001:db8::1]:443")), unique_by=str, max_size=3),
    "ipv6_exit": st.booleans(),
    "access_log": st.booleans(),
    "log_lifetime_hours": st.integers(1, 720),
    "reboot": st.sampled_from(REBOOT_MODES),
    "reboot_window": st.sampled_from(("02:00-04:00", "23:30-01:30", "00:00-23:59")),
    "timezone": st.sampled_from(("UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York")),
    "security_updates": st.booleans(),
    "http_port": st.integers(1, 65535),
    "public_ipv4": st.sampled_from(("", "192.0.2.5")),
    "public_ipv6": st.sampled_from(("", "2001:db8::5")),
    "domain": st.sampled_from(("", "example.org", "exits.example.net")),
    "phone": st.sampled_from(("", "+49 30 1234567")),
    "purge_dirs": st.lists(st.sampled_from(("/var/log/lighttpd", "/var/log/nym", "/var/log/unbound")),
                           unique=True, min_size=1, max_size=3),
}, optional={"operator_url": st.just("https://example.org/"), "postal_address": st.just("Example Str. 1, Berlin")})


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=RAW_SETTINGS)
def test_valid_settings_always_render(raw):
    raw = {"operator_name": "Op e.V.", "abuse_email": "abuse@example.org", "nickname": "hypothesis1", **raw}
    errors: list = []
    values = check_values(raw, "hypothesis", "host 'h'", errors)
    assert not errors, errors
    relay = Relay("h", ("all", "hyp"), RelaySettings(**values), {}, {})
    plan = plan_fleet(Fleet("hyp", (relay,)))["h"]
    files = relay_files(relay.settings, plan, NOW)
    paths = [f.path for f in files]
    assert len(paths) == len(set(paths)) and all(p.startswith("/") for p in paths)
    by_path = configs.by_path(files)
    assert f"server.port          = {values['http_port']}\n" in by_path[LIGHTTPD_CONF].content
    assert (REBOOT_TIMER in by_path) == (values["reboot"] != "never")
    journald = by_path["/etc/systemd/journald.conf.d/exitkit.conf"].content
    assert f"MaxRetentionSec={values['log_lifetime_hours'] * 30 - 1}min" in journald  # the purge interval


# ------------------------------------------------------------------ the command
def test_render_writes_every_relay_and_says_so(tmp_path):
    result = exitkit("render", "inventory/demo.py", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["relay-1", "relay-3", "relay-2"]
    # a tor exit gets 28 files (three of them tor's), the nym gateway 25
    assert [line.split(": ")[1].split(" files")[0] for line in lines] == ["28", "28", "25"]
    nft = tmp_path / "out" / "relay-2" / "etc/exitkit/exit-policy.nft"
    assert "table inet exitkit" in nft.read_text()
    assert stat.S_IMODE((tmp_path / "out/relay-1/usr/local/sbin/exitkit-reboot").stat().st_mode) == 0o755


def test_render_is_deterministic(tmp_path):
    for out in ("a", "b"):
        assert exitkit("render", "inventory/demo.py", "--out", str(tmp_path / out)).returncode == 0
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first == second and len(first) == 28 + 28 + 25 + 1  # + the manifest


def test_render_one_relay(tmp_path):
    result = exitkit("render", "inventory/demo.py", "--out", str(tmp_path), "--relay", "relay-3")
    assert result.returncode == 0 and result.stdout.startswith("relay-3: 28 files")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exitkit-render.json", "relay-3"]
    unknown = exitkit("render", "inventory/demo.py", "--out", str(tmp_path), "--relay", "relay-9")
    assert unknown.returncode == 2 and "no relay 'relay-9'" in unknown.stderr


def test_render_refuses_invalid_settings_before_writing(tmp_path):
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "bad.yml").write_text("exits:\n  r1:\n    nickname: bad1\n    http_port: 99999\n")
    result = exitkit("render", "inventory/bad.py", "--out", "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "exitkit: the fleet settings are not valid; no host was contacted." in result.stderr
    assert "http_port" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_new_render_removes_only_files_it_wrote_before(tmp_path):
    mine = [ConfigFile("/etc/a.conf", "a\n"), ConfigFile("/etc/sub/b.conf", "b\n")]
    write_tree(tmp_path, "r1", mine)
    (tmp_path / "r1" / "etc" / "notes.txt").write_text("the operator's own\n")
    write_tree(tmp_path, "r1", mine[:1])
    assert sorted(str(p.relative_to(tmp_path / "r1")) for p in (tmp_path / "r1").rglob("*")) == \
        ["etc", "etc/a.conf", "etc/notes.txt"]


def test_a_relay_name_cannot_leave_the_output_folder(tmp_path):
    for name in ("..", "a/b", ""):
        with pytest.raises(ValueError):
            write_tree(tmp_path / "out", name, [ConfigFile("/etc/a.conf", "a\n")])
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ families as the last deploy saw them
FP = {"relay-1": "A" * 40, "relay-3": "B" * 40}


def remember_demo_family(folder: Path, family_id: str = "Q" * 43) -> None:
    """What a deploy leaves in the fleet folder: the fingerprints it saw and the family key's id."""

    control.remember_fingerprints(folder, {("relay-1", "/var/lib/tor"): FP["relay-1"],
                                       ("relay-3", "/var/lib/tor"): FP["relay-3"],
                                       ("relay-3", "/var/lib/tor-instances/i2"): "C" * 40,  # no longer in its settings
                                       ("gone-relay", "/var/lib/tor"): "D" * 40})  # no longer in the inventory
    (folder / "secrets" / "tor-family").mkdir(parents=True)
    (folder / "secrets" / "tor-family" / "fleet.public_family_id").write_text(family_id + "\n")


def test_fleet_files_declare_the_family_the_last_deploy_saw(demo, tmp_path):
    fleet, plans = demo
    remember_demo_family(tmp_path)
    every = configs.fleet_files(fleet, plans, tmp_path, NOW)
    torrc_1 = configs.by_path(every["relay-1"])["/etc/tor/torrc"].content
    torrc_3 = configs.by_path(every["relay-3"])["/etc/tor/torrc"].content
    assert f"FamilyId {'Q' * 43}\n" in torrc_1 and f"FamilyId {'Q' * 43}\n" in torrc_3
    assert re.findall(r"^MyFamily (\S+)$", torrc_1, re.M) == [f"${FP['relay-3']}"]
    assert re.findall(r"^MyFamily (\S+)$", torrc_3, re.M) == [f"${FP['relay-1']}"]
    # the pages name each relay's own fingerprints the last deploy saw (none for the Nym relay)
    for relay, fingerprint in FP.items():
        for path, file in configs.by_path(every[relay]).items():
            if path.startswith("/var/www/exitkit/") and path.endswith(".html"):
                assert f"rs.html#details/{fingerprint}" in file.content, (relay, path)
                assert f"rs.html#details/{'C' * 40}" not in file.content  # i2 is no longer in its settings
    # everything else is what relay_files makes from the plan alone
    for relay in fleet.relays:
        alone = configs.by_path(relay_files(relay.settings, plans[relay.name], NOW))
        rendered = configs.by_path(every[relay.name])
        assert set(alone) == set(rendered)
        changed = {p for p in alone if alone[p].content != rendered[p].content}
        pages = {p for p in changed if p.startswith("/var/www/exitkit/") and p.endswith(".html")}
        assert changed - pages <= {"/etc/tor/torrc"}
        assert bool(pages) == (relay.name in FP), relay.name


def test_fleet_files_without_a_deploy_declare_no_family(demo, tmp_path):
    fleet, plans = demo
    every = configs.fleet_files(fleet, plans, tmp_path, NOW)
    for relay in ("relay-1", "relay-3"):
        torrc = configs.by_path(every[relay])["/etc/tor/torrc"].content
        assert "MyFamily" not in torrc and "FamilyId" not in torrc
        assert "rs.html#details/" not in configs.by_path(every[relay])["/var/www/exitkit/index.html"].content


def test_render_shows_the_family_from_the_fleet_folder(tmp_path):
    import shutil

    for folder in ("inventory", "group_data"):
        shutil.copytree(PROJECT / folder, tmp_path / folder)
    remember_demo_family(tmp_path)
    result = exitkit("render", "inventory/demo.py", "--out", "out", "--relay", "relay-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    torrc = (tmp_path / "out" / "relay-1" / "etc/tor/torrc").read_text()
    assert f"MyFamily ${FP['relay-3']}\n" in torrc and f"FamilyId {'Q' * 43}\n" in torrc
