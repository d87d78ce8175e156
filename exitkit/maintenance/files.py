"""The files of the nightly maintenance: journald and the purge (log lifetime), unattended-upgrades,
and the guarded reboot at the time the fleet schedule gave this relay."""

from __future__ import annotations

import hashlib
import shlex

from exitkit.configfile import UNITS, ConfigFile, static
from exitkit.maintenance.purge import PURGE_SCRIPT, purge_command, purge_timing
from exitkit.maintenance.schedule import RebootTime
from exitkit.settings import RelaySettings
from exitkit.templating import render

REBOOT_TIMER = f"{UNITS}/exitkit-reboot.timer"
REBOOT_SERVICE = f"{UNITS}/exitkit-reboot.service"
PURGE_SERVICE = f"{UNITS}/exitkit-purge.service"
PURGE_TIMER = f"{UNITS}/exitkit-purge.timer"
JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/exitkit.conf"
REBOOT_SCRIPT = "/usr/local/sbin/exitkit-reboot"


def log_lifetime_files(settings: RelaySettings) -> list[ConfigFile]:
    """journald in memory, cut at the purge interval, and the purge that keeps every log within the lifetime."""
    timing = purge_timing(settings.log_lifetime_hours)
    return [
        ConfigFile(JOURNALD_DROPIN, render("maintenance/journald.conf.j2", hours=timing.lifetime_hours,
                                           interval=timing.interval_minutes)),
        static(PURGE_SCRIPT, "maintenance/exitkit-purge.sh", mode="755", check="bash -n {path}"),
        ConfigFile(PURGE_SERVICE, render(
            "maintenance/exitkit-purge.service.j2", hours=timing.lifetime_hours,
            purge_command=shlex.join(purge_command(list(settings.purge_dirs), settings.log_lifetime_hours)))),
        ConfigFile(PURGE_TIMER, render("maintenance/exitkit-purge.timer.j2", hours=timing.lifetime_hours,
                                       interval=timing.interval_minutes)),
    ]


def security_update_files(settings: RelaySettings) -> list[ConfigFile]:
    """unattended-upgrades limited to Debian's security origin (switched off by the setting)."""
    return [ConfigFile("/etc/apt/apt.conf.d/52exitkit-unattended-upgrades",
                       render("maintenance/unattended-upgrades.conf.j2", on=1 if settings.security_updates else 0),
                       check="apt-config -c {path} dump >/dev/null")]


def reboot_scheduled(settings: RelaySettings, reboot: RebootTime | None) -> bool:
    """Whether this relay has a reboot timer: the fleet schedule gave it a time, and reboots are on."""
    return settings.reboot != "never" and reboot is not None


def reboot_files(settings: RelaySettings, reboot: RebootTime | None) -> list[ConfigFile]:
    """The guarded reboot script, and the timer at the fleet schedule's time if the relay has one."""
    script = static(REBOOT_SCRIPT, "maintenance/exitkit-reboot.sh", mode="755", check="sh -n {path}")
    if reboot is None or not reboot_scheduled(settings, reboot):
        return [script]
    timer = render("maintenance/exitkit-reboot.timer.j2", on_calendar=reboot.on_calendar,
                   local_time=f"{reboot.local_time:%H:%M}", timezone=settings.timezone,
                   max_at_once=settings.reboot_max_at_once)
    return [script,
            ConfigFile(REBOOT_SERVICE, render("maintenance/exitkit-reboot.service.j2", mode=settings.reboot)),
            ConfigFile(REBOOT_TIMER, timer)]


def maintenance_files(settings: RelaySettings, reboot: RebootTime | None) -> list[ConfigFile]:
    """Everything the nightly maintenance writes: log lifetime, security updates, scheduled reboot."""
    return [*log_lifetime_files(settings), *security_update_files(settings), *reboot_files(settings, reboot)]


def reboot_check_command() -> str:
    """Shell command (run on the relay) printing what reboot_findings judges: the script's digest,
    the timer's state and its calendar line."""
    return (f"sha256sum {REBOOT_SCRIPT} 2>/dev/null || echo 'none  {REBOOT_SCRIPT}'; "
            "systemctl show -p LoadState -p UnitFileState -p ActiveState exitkit-reboot.timer; "
            f"grep -h '^OnCalendar=' {REBOOT_TIMER} 2>/dev/null || true")


def reboot_findings(output: str, settings: RelaySettings, reboot: RebootTime | None) -> list[str]:
    """Every way the relay differs from the page's reboot sentences, from reboot_check_command's output.

    The guard that skips a night (apt/dpkg locks, a connected deploy) is the kit's
    script byte for byte; the timer runs at the fleet schedule's time, or is absent.
    """
    lines = output.splitlines()
    if not lines:
        raise ValueError("expected the output of reboot_check_command")
    digest = lines[0].split()[0]
    state = dict(line.split("=", 1) for line in lines[1:] if line.split("=", 1)[0] in
                 ("LoadState", "UnitFileState", "ActiveState"))
    calendars = [line.split("=", 1)[1] for line in lines[1:] if line.startswith("OnCalendar=")]
    (script, *_) = reboot_files(settings, reboot)
    findings = []
    if digest != hashlib.sha256(str(script.content).encode()).hexdigest():
        findings.append(f"{REBOOT_SCRIPT} is not the kit's script that skips a night while apt, dpkg or "
                        "a deploy is at work")
    if reboot is not None and reboot_scheduled(settings, reboot):
        if (state.get("UnitFileState"), state.get("ActiveState")) != ("enabled", "active"):
            findings.append(f"exitkit-reboot.timer is {state.get('UnitFileState')} and {state.get('ActiveState')}, "
                            "not enabled and active")
        if calendars != [reboot.on_calendar]:
            findings.append(f"exitkit-reboot.timer elapses at {calendars}, not at {reboot.on_calendar}")
    elif state.get("LoadState") != "not-found":
        findings.append("exitkit-reboot.timer exists although this relay has no scheduled reboot")
    return findings
