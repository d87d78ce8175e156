"""Moving a relay to the next Debian release, a batch of relays at a time; deploys/upgrade.py runs it.

Each relay of a batch goes through the steps of ``exitkit.upgrade`` in one callback: health check, sources,
upgrade, reboot. The next batch starts only when every relay of this one answers again on its new release.
A relay whose step fails stops the roll: it is named with the step and the cause, and every later relay
fails this operation untouched.
"""

from __future__ import annotations

import time
from io import BytesIO

import gevent
from pyinfra import host, logger
from pyinfra.api import StringCommand, deploy
from pyinfra.operations import python

from deploys.context import relay_plan, relay_settings
from deploys.ops import ready_command
from deploys.release import relay_release
from deploys.summary import note, note_for
from exitkit import tor, upgrade
from exitkit.releases import Release
from exitkit.upgrade import UpgradeFailed

HEALTH_WAIT_SECONDS = 10  # a relay must be healthy already: it is not given the time a restarted one gets
REBOOT_SECONDS = 600      # from the reboot until SSH answers in the new boot
_STOPPED_AT: dict[str, str] = {}  # roll name -> "relay (step)" where it stopped


@deploy("Next Debian release")
def release_upgrade():
    release = relay_release()
    if release is None:
        return  # refused by release.refuse_unsupported, which runs first
    target = upgrade.next_release(release)
    if target is None:
        note(f"already on {release.name}: not upgraded")
        return
    s = relay_settings()
    services = [instance.service for instance in tor.instances(s)] if s.network == "tor" else []
    roll = f"Upgrade from {release.name} to {target.name} (a batch at a time, each must answer again)"
    python.call(name=roll, function=_move_relay, roll=roll, release=release, target=target,
                services=[*services, "lighttpd.service"], http_port=s.http_port,
                wait_seconds=s.restart_wait_seconds, _parallel=relay_plan().restart_batch)


def _move_relay(roll: str, release: Release, target: Release, services: list[str], http_port: int,
                wait_seconds: int) -> None:
    stopped = _STOPPED_AT.get(roll)
    if stopped:
        raise RuntimeError(upgrade.stopped_message(host.name, stopped, release))
    try:
        _step(upgrade.HEALTH_CHECK, ready_command(services, http_port, HEALTH_WAIT_SECONDS), lambda out: out)
        switched = _switch_sources(release, target)
        _download_or_restore(switched)
        _step(upgrade.UPGRADE, upgrade.FULL_UPGRADE_COMMAND, upgrade.apt_error)
        _reboot(services, http_port, wait_seconds, target)
    except UpgradeFailed as failed:
        _STOPPED_AT[roll] = f"{host.name} ({failed.step})"
        raise RuntimeError(upgrade.failure_message(host.name, failed, release, target)) from None
    note_for(host, f"moved from {release.name} to {target.name}: now converge it with deploys/exit.py")


def _run(command: str) -> tuple[bool, list[str]]:
    """A command on the relay: whether it succeeded, and its output (stdout, then stderr)."""
    logger.info(f"{host.name}: {command}")
    ok, output = host.run_shell_command(StringCommand(command))
    return ok, [*output.stdout_lines, *output.stderr_lines]


def _step(step: str, command: str, cause) -> list[str]:
    """Run one command of ``step``; a failure raises UpgradeFailed with ``cause(output lines)``."""
    ok, lines = _run(command)
    if not ok:
        why = cause(lines)
        raise UpgradeFailed(step, why if isinstance(why, str) else "; ".join(why) or "no output")
    return lines


def _write(path: str, text: str) -> None:
    """Replace a source file by upload beside it and rename, keeping its owner and mode."""
    new = f"{path}.exitkit-new"
    if not host.put_file(BytesIO(text.encode()), new):
        raise UpgradeFailed(upgrade.SOURCES, f"{path} could not be uploaded")
    _step(upgrade.SOURCES, upgrade.replace_command(path, new), lambda lines: lines[-3:])


def _switch_sources(release: Release, target: Release) -> dict[str, str]:
    """Every apt source file that names the old release, switched to the new one and checked by an update that
    must fetch every index; on failure each file is put back as it was. Returns path -> its old text."""
    switched: dict[str, str] = {}
    for path in _step(upgrade.SOURCES, upgrade.LIST_SOURCES_COMMAND, lambda lines: lines[-3:]):
        buffer = BytesIO()
        if not host.get_file(path, buffer):
            raise UpgradeFailed(upgrade.SOURCES, f"{path} could not be read")
        text = buffer.getvalue().decode()
        new = upgrade.switch_sources(path, text, release.codename, target.codename)
        if new != text:
            _step(upgrade.SOURCES, upgrade.backup_command(path), lambda lines: lines[-3:])
            _write(path, new)
            switched[path] = text
    try:
        _step(upgrade.SOURCES, upgrade.UPDATE_COMMAND, upgrade.apt_error)
    except UpgradeFailed:
        _restore(switched)
        raise
    return switched


def _download_or_restore(switched: dict[str, str]) -> None:
    """Fetch every package first, so a mirror lost now changes nothing installed: the sources go back."""
    try:
        _step(upgrade.UPGRADE, upgrade.DOWNLOAD_COMMAND, upgrade.apt_error)
    except UpgradeFailed as failed:
        _restore(switched)
        raise UpgradeFailed(upgrade.SOURCES, failed.cause) from None


def _restore(switched: dict[str, str]) -> None:
    """The old source files back, and apt's lists read from them again (where the mirror answers)."""
    for path, text in switched.items():
        _write(path, text)
    if switched:
        _run(upgrade.UPDATE_COMMAND)


def _boot() -> str:
    ok, lines = _run(upgrade.BOOT_COMMAND)
    return " ".join(lines) if ok else ""


def _reboot(services: list[str], http_port: int, wait_seconds: int, target: Release) -> None:
    """Reboot, reconnect once the relay is in a new boot, then wait until its services and page answer."""
    before = _boot()
    _step(upgrade.REBOOT, upgrade.REBOOT_COMMAND, lambda lines: lines[-3:])
    gevent.sleep(3)
    host.disconnect()
    deadline = time.monotonic() + REBOOT_SECONDS
    while True:
        host.connect(show_errors=False)
        if host.connected:
            now = _boot()
            if now and now != before:
                break
            host.disconnect()
        if time.monotonic() > deadline:
            raise UpgradeFailed(upgrade.REBOOT, f"SSH did not answer in a new boot within {REBOOT_SECONDS}s")
        gevent.sleep(2)
    _step(upgrade.REBOOT, ready_command(services, http_port, wait_seconds), lambda lines: lines)
    version = _step(upgrade.REBOOT, upgrade.VERSION_COMMAND, lambda lines: lines[-3:])
    if [line.strip() for line in version] != [target.version_id]:
        raise UpgradeFailed(upgrade.REBOOT, f"the relay came back with VERSION_ID {' '.join(version)!r}, "
                                            f"not {target.version_id}")
