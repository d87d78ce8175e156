"""Moving a relay to the next Debian release: which release follows which, its apt sources, the commands, and
what a failed step says.

Pure logic: the deploy (``deploys/release_upgrade.py``) reads the relay's files and runs these commands, a
batch of relays at a time. apt's sources are switched by their suite field only (``bookworm``,
``bookworm-security``, ``bookworm-updates``...), so a mirror's address or a comment that happens to contain
the codename is never touched.
"""

from __future__ import annotations

import re
import shlex

from exitkit.releases import DEBIAN_12, DEBIAN_13, Release

# A supported release -> the one an upgrade moves it to; a release not named here is where moves end.
NEXT_RELEASE: dict[Release, Release] = {DEBIAN_12: DEBIAN_13}

# The steps of one relay's move, in order; a failed one is named with its cause.
HEALTH_CHECK, SOURCES, UPGRADE, REBOOT = "health check", "sources", "upgrade", "reboot"
STEPS = (HEALTH_CHECK, SOURCES, UPGRADE, REBOOT)

# apt's source files: one-line format in sources.list and *.list, deb822 in *.sources
LIST_SOURCES_COMMAND = ("for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list "
                        "/etc/apt/sources.list.d/*.sources; do [ ! -f \"$f\" ] || echo \"$f\"; done")
BACKUP_DIR = "/var/backups/exitkit-release-upgrade"  # each source file as it was before its first switch

# Never a question: debconf, apt-listchanges, needrestart and ucf answer themselves; dpkg keeps every config
# file an administrator (the kit) changed, and takes the package's new one where nobody did.
APT_ENVIRONMENT = ("DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none NEEDRESTART_MODE=a "
                   "UCF_FORCE_CONFFOLD=1")
DPKG_KEEPS_CONFIG = "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef"
# Error-Mode=any: an index that cannot be fetched fails the update (by default apt warns and exits 0)
UPDATE_COMMAND = f"{APT_ENVIRONMENT} apt-get update -q -o APT::Update::Error-Mode=any"
DOWNLOAD_COMMAND = f"{APT_ENVIRONMENT} apt-get -y -q {DPKG_KEEPS_CONFIG} --download-only full-upgrade"
FULL_UPGRADE_COMMAND = f"{APT_ENVIRONMENT} apt-get -y -q {DPKG_KEEPS_CONFIG} full-upgrade"
# Which boot the relay is in: the kernel's boot id, and when PID 1 started (in ticks since boot); a container
# shares its host's boot id, so only PID 1 tells that a container relay was restarted.
BOOT_COMMAND = "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat"
# Detached, so the SSH channel closes before the connection drops (as pyinfra's server.reboot does)
REBOOT_COMMAND = "( sleep 1 && systemctl reboot ) </dev/null >/dev/null 2>&1 &"
VERSION_COMMAND = ". /etc/os-release && echo \"$VERSION_ID\""

_ONE_LINE = re.compile(r"^(\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?\S+\s+)(\S+)(.*)$")
_DEB822_SUITES = re.compile(r"^(suites:)(.*)$", re.IGNORECASE)


def next_release(release: Release) -> Release | None:
    """The release ``release`` moves to; None where there is none (the relay is already on the newest)."""
    return NEXT_RELEASE.get(release)


def switch_suite(suite: str, old: str, new: str) -> str:
    """``bookworm`` -> ``trixie``, ``bookworm-security`` -> ``trixie-security``; any other suite as it is."""
    if suite == old or suite.startswith(f"{old}-"):
        return new + suite[len(old):]
    return suite


def switch_sources(path: str, text: str, old: str, new: str) -> str:
    """One apt source file with every suite of ``old`` switched to ``new``; comments and addresses unchanged.

    ``*.sources`` files are deb822 (the ``Suites:`` field), every other file the one-line format
    (``deb [options] URI suite components``).
    """
    deb822 = path.endswith(".sources")
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        if deb822:
            found = _DEB822_SUITES.match(body)
            if found:
                suites = re.sub(r"\S+", lambda word: switch_suite(word.group(0), old, new), found.group(2))
                body = found.group(1) + suites
        else:
            found = _ONE_LINE.match(body)
            if found:
                body = found.group(1) + switch_suite(found.group(2), old, new) + found.group(3)
        lines.append(body + ending)
    return "".join(lines)


def backup_path(path: str) -> str:
    """Where a source file is kept before its first switch: ``/etc/apt/sources.list.d/tor.list`` ->
    ``<BACKUP_DIR>/etc_apt_sources.list.d_tor.list``."""
    return f"{BACKUP_DIR}/{path.strip('/').replace('/', '_')}"


def backup_command(path: str) -> str:
    """Keeps the file as it was before the first switch; a later attempt leaves the first copy alone."""
    copy, original = shlex.quote(backup_path(path)), shlex.quote(path)
    return f"mkdir -p {BACKUP_DIR} && chmod 700 {BACKUP_DIR} && {{ [ -e {copy} ] || cp -p {original} {copy}; }}"


def replace_command(path: str, new_path: str) -> str:
    """Puts an uploaded ``new_path`` over ``path`` by rename, with the old file's owner and mode."""
    new, old = shlex.quote(new_path), shlex.quote(path)
    return f"chown --reference={old} {new} && chmod --reference={old} {new} && mv -f {new} {old}"


def apt_error(lines: list[str]) -> str:
    """The line of apt's output that says why it failed: its first ``E:`` line, else its last warning, else its
    last line; so an unreachable mirror reads ``E: Failed to fetch <URL>  Could not connect to ...``."""
    text = [line.strip() for line in lines if line.strip()]
    for prefix in ("E: ", "W: "):
        found = [line for line in text if line.startswith(prefix)]
        if found:
            return found[0] if prefix == "E: " else found[-1]
    return text[-1] if text else "no output"


class UpgradeFailed(RuntimeError):
    """One step of a relay's move failed; ``step`` is one of STEPS, ``cause`` the line that says why."""

    def __init__(self, step: str, cause: str) -> None:
        self.step = step
        self.cause = cause
        super().__init__(f"{step} failed: {cause}")


def failure_message(relay: str, failed: UpgradeFailed, release: Release, target: Release) -> str:
    """What the run says of the relay that stopped the roll: the relay, the step, the cause, and where it is."""
    where = {HEALTH_CHECK: f"nothing was changed, it runs {release.name}",
             SOURCES: f"its apt sources are back on {release.codename}, nothing was installed",
             UPGRADE: f"it may be between {release.name} and {target.name}: fix the cause and run the upgrade again",
             REBOOT: f"it was upgraded to {target.name} but did not come back as expected"}[failed.step]
    return (f"{relay}: {failed.step} failed: {failed.cause}; {where}; "
            "the upgrade stops here and relays after it are untouched")


def stopped_message(relay: str, stopped_at: str, release: Release) -> str:
    """What the run says of a relay the roll never reached."""
    return (f"{relay} not upgraded: the upgrade stopped at {stopped_at}; {relay} is untouched and runs "
            f"{release.name}")
