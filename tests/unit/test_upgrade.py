"""Moving a relay to the next release: apt sources as Debian 12 machines really have them, and what a failed
step says."""

from __future__ import annotations

from exitkit import upgrade
from exitkit.releases import DEBIAN_12, DEBIAN_13

SOURCES_LIST = """\
# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main
deb http://deb.debian.org/debian bookworm main non-free-firmware
deb-src http://deb.debian.org/debian bookworm main non-free-firmware

deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/tor.gpg] https://deb.torproject.org/torproject.org bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian bookworm-backports main
deb http://mirror.example/bookworm-mirror/debian stable main
"""

DEBIAN_SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
suites:  bookworm-security
Components: main
"""


def test_one_line_sources_switch_every_suite_and_nothing_else():
    switched = upgrade.switch_sources("/etc/apt/sources.list", SOURCES_LIST, "bookworm", "trixie")
    assert switched.splitlines() == [
        "# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main",  # a comment stays as written
        "deb http://deb.debian.org/debian trixie main non-free-firmware",
        "deb-src http://deb.debian.org/debian trixie main non-free-firmware",
        "",
        "deb http://security.debian.org/debian-security trixie-security main",
        "deb [arch=amd64 signed-by=/usr/share/keyrings/tor.gpg] https://deb.torproject.org/torproject.org trixie main",
        "deb http://deb.debian.org/debian trixie-updates main",
        "deb http://deb.debian.org/debian trixie-backports main",
        "deb http://mirror.example/bookworm-mirror/debian stable main",  # an address is not a suite
    ]
    assert switched.endswith("\n")


def test_deb822_sources_switch_the_suites_field():
    switched = upgrade.switch_sources("/etc/apt/sources.list.d/debian.sources", DEBIAN_SOURCES, "bookworm", "trixie")
    assert "Suites: trixie trixie-updates\n" in switched
    assert "suites:  trixie-security\n" in switched
    assert "bookworm" not in switched
    assert switched.replace("trixie", "bookworm") == DEBIAN_SOURCES


def test_a_file_already_switched_or_of_another_suite_is_unchanged():
    done = upgrade.switch_sources("/etc/apt/sources.list", SOURCES_LIST, "bookworm", "trixie")
    assert upgrade.switch_sources("/etc/apt/sources.list", done, "bookworm", "trixie") == done
    for suite in ("stable", "sid", "bookworms", "trixie-security"):
        assert upgrade.switch_suite(suite, "bookworm", "trixie") == suite
    crlf = "deb http://deb.debian.org/debian bookworm main\r\n"
    assert upgrade.switch_sources("/etc/apt/x.list", crlf, "bookworm", "trixie") == crlf.replace("bookworm", "trixie")


def test_debian_12_moves_to_13_and_13_is_the_end():
    assert upgrade.next_release(DEBIAN_12) == DEBIAN_13
    assert upgrade.next_release(DEBIAN_13) is None


def test_the_upgrade_never_asks_and_keeps_the_kit_s_config_files():
    for command in (upgrade.DOWNLOAD_COMMAND, upgrade.FULL_UPGRADE_COMMAND):
        assert "DEBIAN_FRONTEND=noninteractive" in command and " -y " in command
        assert "-o Dpkg::Options::=--force-confold" in command
    assert "APT::Update::Error-Mode=any" in upgrade.UPDATE_COMMAND  # an unreachable mirror fails the update


def test_an_unreachable_mirror_is_named_by_apt_s_error_line():
    output = ["Hit:1 http://deb.debian.org/debian bookworm InRelease",
              "Err:2 http://deb.debian.org/debian trixie InRelease",
              "  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)",
              "E: Failed to fetch http://deb.debian.org/debian/dists/trixie/InRelease  Could not connect to "
              "127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)",
              "E: Some index files failed to download. They have been ignored, or old ones used instead."]
    assert upgrade.apt_error(output) == output[3]
    assert upgrade.apt_error(["W: one", "W: two"]) == "W: two"
    assert upgrade.apt_error(["", "dpkg: error processing package x", ""]) == "dpkg: error processing package x"
    assert upgrade.apt_error([]) == "no output"


def test_a_failed_step_names_the_relay_the_step_the_cause_and_where_the_relay_is():
    failed = upgrade.UpgradeFailed(upgrade.SOURCES, "E: Failed to fetch http://x/InRelease  Could not connect")
    message = upgrade.failure_message("relay-1", failed, DEBIAN_12, DEBIAN_13)
    assert message.startswith("relay-1: sources failed: E: Failed to fetch http://x/InRelease")
    assert "sources are back on bookworm" in message and "relays after it are untouched" in message
    for step in upgrade.STEPS:
        assert upgrade.failure_message("r", upgrade.UpgradeFailed(step, "why"), DEBIAN_12, DEBIAN_13)
    assert upgrade.stopped_message("relay-2", "relay-1 (sources)", DEBIAN_12) == (
        "relay-2 not upgraded: the upgrade stopped at relay-1 (sources); relay-2 is untouched and runs "
        "Debian 12 bookworm")


def test_each_source_file_is_kept_once_before_its_first_switch():
    assert upgrade.backup_path("/etc/apt/sources.list.d/tor.list") == (
        f"{upgrade.BACKUP_DIR}/etc_apt_sources.list.d_tor.list")
    assert "[ -e " in upgrade.backup_command("/etc/apt/sources.list")  # a second attempt keeps the first copy
