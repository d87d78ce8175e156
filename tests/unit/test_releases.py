"""Which release a relay runs, from its /etc/os-release as each release really ships it."""

from __future__ import annotations

import pytest

from exitkit.releases import (
    DEBIAN_12,
    DEBIAN_13,
    DEFAULT_RELEASE,
    SUPPORTED,
    OsRelease,
    UnsupportedRelease,
    parse_os_release,
    release_of,
    supported_names,
    supported_short,
)
from exitkit.units import UnitState, unit_state

DEBIAN_11_TEXT = """\
PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

DEBIAN_12_TEXT = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

DEBIAN_13_TEXT = """\
PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.1
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

# testing before trixie's release: its codename is trixie's, but it has no VERSION_ID
TESTING_TEXT = """\
PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

UBUNTU_2404_TEXT = """\
PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
"""


def test_os_release_of_debian_13_is_read_field_by_field():
    assert parse_os_release(DEBIAN_13_TEXT) == OsRelease(
        id="debian", version_id="13", version_codename="trixie", pretty_name="Debian GNU/Linux 13 (trixie)")


@pytest.mark.parametrize(("text", "release"), [(DEBIAN_13_TEXT, DEBIAN_13), (DEBIAN_12_TEXT, DEBIAN_12)],
                         ids=["debian-13", "debian-12"])
def test_supported_releases_are_recognised(text, release):
    assert release_of(parse_os_release(text)) is release


@pytest.mark.parametrize(("text", "named"), [
    (DEBIAN_11_TEXT, "Debian GNU/Linux 11 (bullseye)"),
    (TESTING_TEXT, "Debian GNU/Linux trixie/sid"),
    (UBUNTU_2404_TEXT, "Ubuntu 24.04.1 LTS"),
], ids=["debian-11", "testing", "ubuntu-24.04"])
def test_other_releases_are_refused_with_what_they_are_and_what_is_supported(text, named):
    with pytest.raises(UnsupportedRelease) as refused:
        release_of(parse_os_release(text))
    assert str(refused.value) == (f"runs {named}, which exitkit does not support "
                                  "(supported: Debian 13 trixie, Debian 12 bookworm)")


def test_a_release_without_a_pretty_name_is_named_by_id_and_version():
    found = parse_os_release('ID=debian\nVERSION_ID="11"\n')
    assert found.describe() == "debian 11"
    with pytest.raises(UnsupportedRelease, match=r"^runs debian 11, which"):
        release_of(found)


def test_a_machine_without_os_release_is_refused_as_unknown():
    with pytest.raises(UnsupportedRelease, match="an unknown system"):
        release_of(parse_os_release(""))


def test_os_release_quoting_comments_and_odd_lines():
    text = "# a comment\n\nNAME='Debian GNU/Linux'\nPRETTY_NAME=\"Debian \\\"bookworm\\\"\"\nnonsense\nID=\"debian\n"
    found = parse_os_release(text)
    assert found.pretty_name == 'Debian "bookworm"' and found.id == "debian"


def test_debian_13_is_the_default_and_first_class_release():
    assert DEFAULT_RELEASE is DEBIAN_13 and SUPPORTED[0] is DEBIAN_13
    assert supported_names() == "Debian 13 trixie, Debian 12 bookworm"
    assert supported_short() == "Debian 13 or 12"


def test_what_differs_between_the_releases():
    assert (DEBIAN_13.codename, DEBIAN_12.codename) == ("trixie", "bookworm")
    assert (DEBIAN_13.package_unit_dir, DEBIAN_12.package_unit_dir) == ("/usr/lib/systemd/system",
                                                                        "/lib/systemd/system")


@pytest.mark.parametrize(("load_state", "state"), [
    ("not-found", UnitState.ABSENT), ("masked", UnitState.MASKED), ("loaded", UnitState.PRESENT),
    ("bad-setting", UnitState.PRESENT), ("", UnitState.ABSENT),
])
def test_a_unit_load_state_reads_as_what_the_deploy_acts_on(load_state, state):
    """What ``systemctl show -p LoadState --value`` prints, the same on Debian 12 and 13; no answer masks first."""
    assert unit_state(load_state) is state
