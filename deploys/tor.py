"""The Tor exit: tor from Debian (or the Tor Project), a checked torrc per instance, families, keys kept safe."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from gevent.event import AsyncResult
from pyinfra import host, state
from pyinfra.api import FactBase, StringCommand, deploy, operation
from pyinfra.api.host import Host
from pyinfra.facts.files import Directory, FileContents
from pyinfra.operations import apt, python, server

from deploys.context import fact_once, read_once, relay_plan, relay_settings
from deploys.ops import fetch_secret, rolling_restart, secret_file, units, write_config, write_now
from deploys.release import relay_release, release_of_relay
from exitkit import control, tor
from exitkit.configfile import UNITS, ConfigFile, by_path
from exitkit.packages import TOR, relay_packages
from exitkit.plan import exit_policy_of
from exitkit.releases import Release
from exitkit.remote import Folder, WantedUnit
from exitkit.settings import RelaySettings
from exitkit.tor import TORPROJECT_KEYRING, TORPROJECT_SOURCES, tor_files, torproject_repository
from exitkit.tor import repository as torrepo
from exitkit.tor.reload import RunningTor, Step, TorrcChange, next_step, parse_running, running_command
from exitkit.tor.reload import planned_change as reload_plan
from exitkit.units import UnitState

IDENTITY_KEYS = ("secret_id_key", "ed25519_master_id_secret_key", "ed25519_master_id_public_key")


class TorRelayState(FactBase):
    """Fingerprints, the torrc each running instance started with, and tor@default's unit state."""

    def command(self) -> str:
        return tor.STATE_COMMAND

    def process(self, output):
        return tor.parse_tor_state(list(output))


def relay_state(relay: Host) -> tor.TorState:
    """A relay's TorRelayState, read once per run: every family member needs every other's fingerprints."""
    return fact_once(relay, TorRelayState)


def fleet_dir() -> Path:
    """The operator's fleet folder (holds inventory/), where the family key and key backups live."""
    return relay_plan().fleet_dir or Path(".")


@deploy("Tor exit relay")
def tor_relay():
    s = relay_settings()
    release = relay_release()
    if s.network != "tor" or release is None:
        return
    instances = tor.instances(s)
    current = relay_state(host)
    refused = _family_key_refused(s)
    if refused:
        # stop this relay before anything of tor changes: its family key stays as it is
        server.shell(name="Family key known to this control machine",
                     commands=[f"echo {shlex.quote(refused)} >&2; exit 1"])
        return
    if s.tor_package_source == "torproject":
        _torproject_repository(s, by_path(tor_files(s, exit_policy_of(s), release=release))[TORPROJECT_SOURCES],
                              release)
    installed = None
    if "tor" not in relay_packages(s):  # else base.system installed it (masked) with every other package
        if current.default_unit == UnitState.ABSENT:
            # Debian's package starts a tor client at once: keep tor stopped until our checked torrc is in place
            server.shell(name="Keep tor from starting before its torrc is checked",
                         commands=["systemctl mask tor@default.service"])
        installed = apt.packages(name="Install tor", packages=list(TOR), update=True, cache_time=3600,
                                 no_recommends=True)

    family_id, family_key = "", None
    if s.tor_family:
        key_path, family_id = control.ensure_family_key(fleet_dir() / control.FAMILY_KEYS, s.tor_family)
        family_key = key_path.read_bytes()
    fingerprints, missing = family_fingerprints(s)
    wanted = _tor_files(s, fingerprints, family_id, release)
    write_config(wanted["/usr/local/sbin/exitkit-tor-applied"], name="Note which torrc each running tor started with")
    # systemd reads a changed drop-in before any tor starts or reloads (the units operation below)
    write_config(wanted[f"{UNITS}/tor@.service.d/exitkit.conf"], name="Start hook for every tor instance",
                 folders=[Folder(f"{UNITS}/tor@.service.d")])
    for instance in instances:
        if instance.name != "default" and not host.get_fact(Directory, path=f"/etc/tor/instances/{instance.name}"):
            server.shell(name=f"Create tor instance {instance.name} (its own user, data directory and keys)",
                         commands=[f"tor-instance-create {instance.name}"])
        if family_key:
            secret_file(name=f"Family key of {instance.service}", content=family_key,
                        dest=f"{instance.data_dir}/keys/{s.tor_family}.secret_family_key",
                        user=instance.user, group=instance.user, mode=600,
                        folder=Folder(f"{instance.data_dir}/keys", 2700, instance.user, instance.user))
        write_config(wanted[instance.torrc], name=f"torrc of {instance.service}, checked by tor --verify-config first")

    # unmasked now that its torrc is checked; tor.service brings up tor@default at boot (Debian's generator),
    # other instances are enabled themselves; restarts and reloads are decided below, never here
    units(name="tor enabled at boot and every instance running",
          wanted=[WantedUnit("tor.service", running=None, enabled=True),
                  *(WantedUnit(i.service, enabled=None if i.name == "default" else True) for i in instances)],
          fresh=installed.did_change if installed else None)  # tor installed here, after the units were read
    if missing:
        python.call(name="Complete MyFamily with the fingerprints of relays new to the family",
                    function=_complete_family, settings=s, family_id=family_id, release=release)

    # what each running tor needs for its new torrc: nothing, a reload (same process) or a restart
    planned = {i.name: planned_change(i, current, wanted[i.torrc].content) for i in instances}
    python.call(name="Reload tor for its new torrc; start at once the tor of a relay that was not serving",
                function=_apply_torrc, instances=instances, planned=planned, serving=current.active,
                _if=lambda: any(planned.values()) or host.name in _FAMILY_COMPLETED)
    rolling_restart(name="Rolling restart of tor where a serving tor needs one (a batch at a time)",
                    services=lambda: _TO_ROLL.get(host.name, []), ready=[i.service for i in instances],
                    http_port=s.http_port, wait_seconds=s.restart_wait_seconds, batch=relay_plan().restart_batch,
                    when=lambda: host.name in _TO_ROLL)
    if s.key_backup_dir:
        for instance in instances:
            backup_identity_keys(instance, fleet_dir() / s.key_backup_dir / host.name / instance.name)


def _family_key_refused(s: RelaySettings) -> str:
    """Why this relay's family key must not be touched in this run ("" if it may): checked against what every
    reachable member carries, before the control machine makes a key of its own."""
    if not s.tor_family or s.tor_family_rotate:
        return ""
    folder = fleet_dir() / control.FAMILY_KEYS
    carried = {}
    for name in relay_plan().tor_family_hosts:
        member = state.inventory.get_host(name)
        if member.connected:
            carried[name] = relay_state(member).family_keys
    return tor.family_key_problem(s.tor_family, host.name, control.existing_family_key(folder, s.tor_family),
                                  carried, str(folder / f"{s.tor_family}.secret_family_key"))


def _tor_files(s: RelaySettings, fingerprints: dict[tuple[str, str], str], family_id: str, release: Release) -> dict:
    """exitkit.configs' tor files for this host, with the family these fingerprints make (by path)."""
    families = tor.families(host.name, tor.instances(s), fingerprints, relay_plan().tor_family_hosts, family_id)
    return by_path(tor_files(s, exit_policy_of(s), families, release=release))


def family_fingerprints(s: RelaySettings) -> tuple[dict[tuple[str, str], str], bool]:
    """(host, data dir) -> fingerprint for every tor instance of this relay's family, read from the relays.

    Facts are read from the other family members too (pyinfra caches them per
    host). A member that cannot be reached keeps its place through the
    fingerprints last seen for it (``exitkit.control.remember_fingerprints``), and so does a member of a release
    the kit refuses (it is not converged, so it will not make keys in this run). ``missing`` says
    that some member has no keys yet (a new relay): its fingerprint is
    collected after it started, in the same run.
    """
    members = relay_plan().tor_family_hosts
    found: dict[tuple[str, str], str] = {}
    missing = False
    for name in members:
        member = state.inventory.get_host(name)
        member_settings = RelaySettings.from_data(member.data.dict())
        if not member.connected or release_of_relay(member) is None:
            # unreachable or refused: its fingerprints (public) as last seen, so families stay as they are
            found.update(control.remembered(fleet_dir(), name, member_settings))
            continue
        member_state = relay_state(member)
        control.remember_fingerprints(fleet_dir(), {(name, d): fp for d, fp in member_state.fingerprints.items()})
        for instance in tor.instances(member_settings):
            fingerprint = member_state.fingerprints.get(instance.data_dir)
            if fingerprint:
                found[(name, instance.data_dir)] = fingerprint
            else:
                missing = True
    return found, missing


def own_fingerprints(s: RelaySettings) -> tuple[dict[str, str], bool]:
    """This relay's fingerprints (data dir -> fingerprint) for its pages, read with the family's facts, and
    whether some instance has no key yet (a new relay: ``fingerprints_now`` has it once its tor started).

    Remembered like the family's, so ``exitkit render`` shows the pages the relay holds."""
    if s.network != "tor":
        return {}, False
    read = relay_state(host).fingerprints
    own = {i.data_dir: read[i.data_dir] for i in tor.instances(s) if i.data_dir in read}
    control.remember_fingerprints(fleet_dir(), {(host.name, data_dir): fp for data_dir, fp in own.items()})
    return own, len(own) < len(tor.instances(s))


_FAMILY_COMPLETED: set[str] = set()
_TO_ROLL: dict[str, list[str]] = {}  # relay -> the services the rolling restart restarts (filled at run time)


def planned_change(instance: tor.TorInstance, current: tor.TorState, new: str) -> TorrcChange:
    """What the tor of ``instance`` needs for the ``new`` torrc (``exitkit.tor.reload.planned_change``)."""

    def on_disk() -> str | None:
        lines = host.get_fact(FileContents, path=instance.torrc)
        return "\n".join(lines) + "\n" if lines is not None else None

    return reload_plan(current.applied.get(instance.name), new, on_disk,
                       tor_installed=current.default_unit == UnitState.PRESENT)


def _apply_torrc(instances: list[tor.TorInstance], planned: dict[str, TorrcChange], serving: frozenset[str]) -> None:
    """At run time, after the torrcs (and a completed MyFamily) are in place: reload each tor that can take its
    torrc so, start at once those that served nobody before the run, and leave the others to the rolling restart."""
    ok, output = host.run_shell_command(StringCommand(running_command(
        (i.name, i.torrc, i.service) for i in instances)))
    if not ok:
        raise RuntimeError("could not read which torrc each tor runs: " + " ".join(output.stderr_lines[-3:]))
    running = parse_running(output.stdout_lines)
    completed = TorrcChange.RELOAD if host.name in _FAMILY_COMPLETED else TorrcChange.NOTHING
    steps = {i.service: next_step(max(planned.get(i.name, TorrcChange.NOTHING), completed),
                                  running.get(i.name, RunningTor(i.name, "", "", False)), i.name in serving)
             for i in instances}
    for step, verb in ((Step.RELOAD, "reload"), (Step.START_NOW, "restart")):
        services = [service for service, wanted in steps.items() if wanted == step]
        if services:
            done, out = host.run_shell_command(StringCommand(f"systemctl {verb} {' '.join(services)}"))
            if not done:
                raise RuntimeError(f"systemctl {verb} {' '.join(services)} failed: " + " ".join(out.stderr_lines[-3:]))
    roll = [service for service, wanted in steps.items() if wanted == Step.ROLL]
    if roll:
        _TO_ROLL[host.name] = roll


_READ_AT_RUN_TIME: dict[str, AsyncResult] = {}  # relay -> its fingerprints, read once per run


def fingerprints_now(name: str) -> dict[str, str]:
    """A member's fingerprints (data dir -> fingerprint) read once in this run (``read_once``), whichever relay
    asks first: every relay completing its family, or its pages, needs them once its tor has run."""

    def read() -> dict[str, str]:
        member = state.inventory.get_host(name)
        if member.connected and release_of_relay(member) is not None:
            ok, output = member.run_shell_command(tor.STATE_COMMAND)
            if ok:
                return tor.parse_tor_state(output.stdout_lines).fingerprints
        return {}

    return read_once(_READ_AT_RUN_TIME, name, read)


def _complete_family(settings: RelaySettings, family_id: str, release: Release) -> None:
    """At run time, after new relays made their keys: rewrite torrcs whose MyFamily is incomplete."""
    fingerprints = {(name, data_dir): fp for name in relay_plan().tor_family_hosts
                    for data_dir, fp in fingerprints_now(name).items()}
    control.remember_fingerprints(fleet_dir(), fingerprints)
    wanted = _tor_files(settings, fingerprints, family_id, release)
    for instance in tor.instances(settings):
        torrc = wanted[instance.torrc]
        ok, output = host.run_shell_command(f"cat {instance.torrc}")
        if ok and "\n".join(output.stdout_lines) + "\n" == torrc.content:
            continue
        try:
            write_now(torrc)
        except RuntimeError as error:
            raise RuntimeError(f"torrc of {instance.service} with the complete family was refused: {error}") from None
        _FAMILY_COMPLETED.add(host.name)


class TorProjectKeys(FactBase):
    """The primary key fingerprints the Tor Project keyring holds ([] without the keyring or gpg)."""

    def command(self, keyring: str) -> str:
        return torrepo.keyring_keys_command(keyring)

    def process(self, output):
        return torrepo.parse_fingerprints(output)


class AptKnowsRepository(FactBase):
    """Whether apt has read the signed index of a repository (it shows in apt-cache policy)."""

    def command(self, repository: str, codename: str) -> str:
        return torrepo.apt_knows_command(repository, codename)

    def process(self, output):
        return list(output) == ["yes"]


@operation()
def pinned_signing_key(repository: str, fingerprint: str, keyring: str):
    """The repository's signing key in ``keyring``, taken only if it is the pinned one; a no-op when the keyring
    already holds that key and no other."""
    if torrepo.keyring_holds_only(host.get_fact(TorProjectKeys, keyring=keyring), fingerprint):
        host.noop(f"{keyring} holds the pinned key")
        return
    yield StringCommand(torrepo.install_key_script(repository, fingerprint, keyring))


@operation()
def read_repository(repository: str, codename: str, changed: Callable[[], bool]):
    """apt-get update when the key or the source just changed, or apt has not read the repository yet: apt's
    own update (base.system's, or the install's cache_time) may be younger than the source and skip it."""
    # (a preview cannot know yet whether the key or the source will change: it shows what apt has read)
    pending = state.is_executing and changed()
    if not pending and host.get_fact(AptKnowsRepository, repository=repository, codename=codename):
        host.noop(f"apt has read {repository}")
        return
    yield StringCommand(torrepo.read_repository_script(repository, codename))


def _torproject_repository(s: RelaySettings, sources: ConfigFile, release: Release) -> None:
    """The Tor Project's own packages from ``torproject_repository``, signed by the key pinned in the settings.

    gpg first (it checks the key); the key, then the source; then apt must read the repository before tor
    is installed from it. A key or a Release that is not the pinned key's fails the step that met it, and
    the relay's tor is not touched.
    """
    repository = torproject_repository(s)
    apt.packages(name="Tools to check the Tor Project's signing key", packages=["gpg", "ca-certificates"],
                 no_recommends=True)
    key = pinned_signing_key(name="Tor Project signing key, checked against the pinned fingerprint",
                             repository=repository, fingerprint=s.torproject_key_fingerprint,
                             keyring=TORPROJECT_KEYRING)
    source = write_config(sources, name="The Tor Project's package repository")
    read_repository(name="apt reads the Tor Project's repository, signed by the pinned key",
                    repository=repository, codename=release.codename,
                    changed=lambda: key.did_change() or source.did_change())


def backup_identity_keys(instance: tor.TorInstance, folder: Path) -> None:
    for key in IDENTITY_KEYS:
        fetch_secret(name=f"Copy {key} of {instance.service} to the control machine",
                     src=f"{instance.data_dir}/keys/{key}", dest=str(folder / key))
