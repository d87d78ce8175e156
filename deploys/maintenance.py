"""Nightly maintenance: logs that live no longer than promised, security updates, the scheduled reboot."""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FindFiles
from pyinfra.operations import files, server, systemd

from deploys.context import TEMPLATES, plan, relay_settings, render
from deploys.ops import checked_file
from exitkit.schedule import purge_command

UNITS = "/etc/systemd/system"


@deploy("Logs with a promised lifetime")
def log_lifetime():
    s = relay_settings()
    hours, half = s.log_lifetime_hours, s.log_lifetime_hours * 30
    files.directory(name="journald drop-in folder", path="/etc/systemd/journald.conf.d")
    journald = files.put(name="Journal in memory only, kept at most the log lifetime",
                         src=StringIO(render("maintenance/journald.conf.j2", hours=hours, half=half)),
                         dest="/etc/systemd/journald.conf.d/exitkit.conf")
    systemd.service(name="Restart journald for its new limits", service="systemd-journald.service",
                    restarted=True, _if=journald.did_change)
    if host.get_fact(FindFiles, path="/var/log/journal"):
        # a journal kept on disk before the kit arrived would outlive the promise
        server.shell(name="Delete journal files kept on disk", commands=["find /var/log/journal -mindepth 1 -delete"])
    service = files.put(name="Log purge service", dest=f"{UNITS}/exitkit-purge.service", src=StringIO(render(
        "maintenance/exitkit-purge.service.j2", hours=hours, half=half,
        find_command=shlex.join(purge_command(list(s.purge_dirs), hours)))))
    timer = files.put(name="Log purge timer", dest=f"{UNITS}/exitkit-purge.timer",
                      src=StringIO(render("maintenance/exitkit-purge.timer.j2")))
    systemd.daemon_reload(name="Reload systemd for the purge units", _if=[service.did_change, timer.did_change])
    systemd.service(name="Purge timer enabled and running", service="exitkit-purge.timer", running=True, enabled=True)


@deploy("Security updates")
def security_updates():
    s = relay_settings()
    checked_file(name="unattended-upgrades: Debian security origin only",
                 content=render("maintenance/unattended-upgrades.conf.j2", on=1 if s.security_updates else 0),
                 dest="/etc/apt/apt.conf.d/52exitkit-unattended-upgrades",
                 check="apt-config -c {path} dump >/dev/null")


@deploy("Scheduled reboot")
def scheduled_reboot():
    s = relay_settings()
    files.put(name="Reboot script that waits for apt, dpkg and deploys", src=str(TEMPLATES / "maintenance/exitkit-reboot.sh"),
              dest="/usr/local/sbin/exitkit-reboot", mode="755")
    on_calendar = plan("reboot_on_calendar")
    if s.reboot == "never" or not on_calendar:
        timer = files.file(name="No scheduled reboot timer", path=f"{UNITS}/exitkit-reboot.timer", present=False)
        service = files.file(name="No scheduled reboot service", path=f"{UNITS}/exitkit-reboot.service", present=False)
        systemd.daemon_reload(name="Reload systemd without the reboot units", _if=[service.did_change, timer.did_change])
        return
    service = files.put(name="Reboot service", dest=f"{UNITS}/exitkit-reboot.service",
                        src=StringIO(render("maintenance/exitkit-reboot.service.j2", mode=s.reboot)))
    timer = files.put(name="Reboot timer at the fleet schedule's time", dest=f"{UNITS}/exitkit-reboot.timer",
                      src=StringIO(render("maintenance/exitkit-reboot.timer.j2", on_calendar=on_calendar,
                                          local_time=plan("reboot_time"), timezone=s.timezone,
                                          max_at_once=s.reboot_max_at_once)))
    systemd.daemon_reload(name="Reload systemd for the reboot units", _if=[service.did_change, timer.did_change])
    systemd.service(name="Reboot timer enabled and running", service="exitkit-reboot.timer", running=True, enabled=True)
