"""The files of the nightly maintenance: journald and the purge (log lifetime), unattended-upgrades,
and the guarded reboot at the time the fleet schedule gave this relay."""

from __future__ import annotations

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
