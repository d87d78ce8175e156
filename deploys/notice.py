"""The notice page: what this address is, served by a hardened lighttpd that logs no visitor."""

from __future__ import annotations

from datetime import UTC, datetime

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import python

from deploys.context import relay_plan, relay_settings
from deploys.ops import units, write_config, write_configs, write_now
from deploys.release import relay_release
from deploys.summary import note_for
from deploys.tor import fingerprints_now, fleet_dir, own_fingerprints
from exitkit import control
from exitkit.configfile import ConfigFile, by_path
from exitkit.notice import DOCROOT, EXIT_POLICY_PATH, LIGHTTPD_CONF, notice_files
from exitkit.notice.files import TLS_INCLUDE
from exitkit.outside import nym_policy_instruction
from exitkit.plan import exit_policy_of
from exitkit.remote import Folder, WantedUnit
from exitkit.settings import RelaySettings

# what each file is, as the run names its operation
NAMES = {
    f"{DOCROOT}/.well-known/security.txt": "security.txt (RFC 9116)",
    f"{DOCROOT}{EXIT_POLICY_PATH}": "Machine-readable exit policy",
    LIGHTTPD_CONF: "lighttpd configuration, checked by lighttpd -tt first",
    TLS_INCLUDE: "lighttpd's HTTPS listener, once a certificate is served",
}


def _note_for_nym(state, host, lines: tuple[str, ...]) -> None:
    for line in lines:
        note_for(host, line)


def _add_new_fingerprints(settings: RelaySettings, now: datetime, planned: dict[str, ConfigFile]) -> None:
    """At run time, after tor started: every page and fact sheet again, with the fingerprints tor has now (read
    once per run, as MyFamily's completion reads them); the next run's plan then finds the same pages."""
    plan = relay_plan()
    fingerprints = fingerprints_now(host.name)
    control.remember_fingerprints(fleet_dir(), {(host.name, data_dir): fp for data_dir, fp in fingerprints.items()})
    for file in notice_files(settings, exit_policy_of(settings), hostname=plan.hostname, reboot_time=plan.reboot_time,
                             now=now, in_service_since=plan.in_service_since, fingerprints=fingerprints):
        if file.path.endswith(".html") and file.content != planned[file.path].content:
            write_now(file)


@deploy("Notice page")
def notice_page():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings, plan, now = relay_settings(), relay_plan(), datetime.now(UTC)
    fingerprints, missing = own_fingerprints(settings)
    wanted = by_path(notice_files(settings, exit_policy_of(settings), hostname=plan.hostname,
                                  reboot_time=plan.reboot_time, now=now, in_service_since=plan.in_service_since,
                                  fingerprints=fingerprints))
    lighttpd = wanted.pop(LIGHTTPD_CONF)
    # the web root, and exitkit's scripts folder for HTTPS
    folders = [Folder(f"{DOCROOT}/.well-known", mode=755)]
    if TLS_INCLUDE in wanted:
        folders.append(Folder("/usr/local/lib/exitkit", mode=755))
    # every page in one operation, each file still written the checked way
    written = write_configs(list(wanted.values()), folders=folders, name="Notice pages, fact sheets, "
                            + ", ".join(NAMES[path] for path in wanted if path in NAMES))
    if missing:  # a tor made its keys in this run, after the plan: the pages name it once it has
        python.call(name="Notice pages with the fingerprints tor made in this run", function=_add_new_fingerprints,
                    settings=settings, now=now, planned=wanted)
    if settings.network == "nym":  # nym-node is the operator's: say once, when the file changes, how it follows it
        python.call(name="How nym-node follows this policy file (a note in the summary)", function=_note_for_nym,
                    lines=nym_policy_instruction(settings, plan.hostname),
                    _if=written.changed(f"{DOCROOT}{EXIT_POLICY_PATH}"))
    config = write_config(lighttpd, name=NAMES[LIGHTTPD_CONF])
    units(name="lighttpd enabled and running, reloaded for its checked new configuration",
          wanted=[WantedUnit("lighttpd.service")], reload=config.did_change)
