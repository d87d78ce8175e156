"""Nightly maintenance: logs that live no longer than promised, security updates, the scheduled reboot."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FindFiles
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from deploys.context import relay_plan, relay_settings
from deploys.ops import units, write_config, write_configs
from deploys.release import relay_release
from exitkit.configfile import by_path
from exitkit.maintenance.files import (
    JOURNALD_DROPIN,
    PURGE_SCRIPT,
    PURGE_SERVICE,
    PURGE_TIMER,
    REBOOT_SCRIPT,
    REBOOT_SERVICE,
    REBOOT_TIMER,
    log_lifetime_files,
    reboot_files,
    reboot_scheduled,
    security_update_files,
)
from exitkit.remote import Folder, WantedUnit


@deploy("Logs with a promised lifetime")
def log_lifetime():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    wanted = by_path(log_lifetime_files(relay_settings()))
    written = write_configs([wanted[path] for path in (JOURNALD_DROPIN, PURGE_SCRIPT, PURGE_SERVICE, PURGE_TIMER)],
                            folders=[Folder(JOURNALD_DROPIN.rsplit("/", 1)[0])],
                            name="Journal in memory only, kept at most the log lifetime; log purge script and units")
    # the timer first: its operation reloads systemd for the purge units, so journald's restart needs none
    units(name="Purge timer enabled and running", wanted=[WantedUnit("exitkit-purge.timer")])
    units(name="Restart journald for its new limits",
          wanted=[WantedUnit("systemd-journald.service", running=None, enabled=None)],
          restart=written.changed(JOURNALD_DROPIN))
    if host.get_fact(FindFiles, path="/var/log/journal"):
        # a journal kept on disk before the kit arrived would outlive the promise
        server.shell(name="Delete journal files kept on disk", commands=["find /var/log/journal -mindepth 1 -delete"])
    # the promise holds from this run on, not from the timer's first elapse
    server.shell(name="Purge the logs now, by the new rules", commands=["systemctl start exitkit-purge.service"],
                 _if=written.changed(PURGE_SCRIPT, PURGE_SERVICE, JOURNALD_DROPIN))


@deploy("Security updates")
def security_updates():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    (config,) = security_update_files(relay_settings())
    write_config(config, name="unattended-upgrades: Debian security origin only")


@deploy("Scheduled reboot")
def scheduled_reboot():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    s, plan = relay_settings(), relay_plan()
    wanted = by_path(reboot_files(s, plan.reboot))
    if not reboot_scheduled(s, plan.reboot):
        write_config(wanted[REBOOT_SCRIPT], name="Reboot script that waits for apt, dpkg and deploys")
        timer = files.file(name="No scheduled reboot timer", path=REBOOT_TIMER, present=False)
        service = files.file(name="No scheduled reboot service", path=REBOOT_SERVICE, present=False)
        systemd.daemon_reload(name="Reload systemd without the reboot units",
                              _if=any_changed(service, timer))
        return
    write_configs([wanted[path] for path in (REBOOT_SCRIPT, REBOOT_SERVICE, REBOOT_TIMER)],
                  name="Reboot script (waits for apt, dpkg and deploys), service, timer at the schedule's time")
    units(name="Reboot timer enabled and running", wanted=[WantedUnit("exitkit-reboot.timer")])
