"""Operations the units share: config files that their own program checks first, and the units that run them.

A run asks each relay once for the state of every file it writes and once for every unit it runs
(``exitkit.remote``), and keeps that state current with its own writes and systemctl calls: the kit's
files and units change during a run only by the kit's own operations, which run after the packages
are installed. Each question costs a round trip; asked per file and per unit, they were most of a
first converge's time beside apt.
"""

from __future__ import annotations

import hashlib
import shlex
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path

from pyinfra import host, logger, state
from pyinfra.api import FactBase, FileUploadCommand, FunctionCommand, State, StringCommand, operation
from pyinfra.api.output import format_text
from pyinfra.context import ctx_state
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.operations.util.files import generate_color_diff

from exitkit import remote
from exitkit.configfile import UNITS, ConfigFile
from exitkit.control import write_secret
from exitkit.remote import Folder, RemoteFile, RemoteFolder, UnitStatus, WantedUnit


class FileStates(FactBase):
    """sha1, mode, owner and group of each of ``paths`` that is a regular file; None for the others."""

    @staticmethod
    def default() -> dict:
        return {}

    def command(self, paths: list[str]) -> str:
        return remote.files_command(paths)

    def process(self, output):
        return remote.parse_files(output)


class UnitStates(FactBase):
    """Masked, active and enabled of each of ``units``."""

    @staticmethod
    def default() -> list:
        return []

    def command(self, units: list[str]) -> str:
        return remote.units_command(units)

    def process(self, output):
        return list(output)  # matched to the units asked by the caller (systemctl answers in their order)


@dataclass
class _Relay:
    """What this run knows of one relay's files and units, and what it is about to need (planned paths and units,
    asked for together at the first question)."""

    planned_paths: list[str] = field(default_factory=list)
    planned_units: list[str] = field(default_factory=list)
    files: dict[str, RemoteFile | RemoteFolder | None] = field(default_factory=dict)
    units: dict[str, UnitStatus] = field(default_factory=dict)
    changed_paths: set[str] = field(default_factory=set)
    daemon_reload: bool = False  # a unit file changed since systemd last read them


# state -> (relay, executing) -> what this run knows; planning and execution keep apart what they read (a preview
# reads the relay before any change, the run reads it as its own operations changed it)
_KNOWN: weakref.WeakKeyDictionary[State, dict[tuple[str, bool], _Relay]] = weakref.WeakKeyDictionary()


def _relay(executing: bool | None = None) -> _Relay:
    per_state = _KNOWN.setdefault(ctx_state.get(), {})
    key = (host.name, state.is_executing if executing is None else executing)
    return per_state.setdefault(key, _Relay())


def _plan(paths: Iterable[str] = (), units: Iterable[str] = ()) -> None:
    """Called while the deploy is planned: what the run will ask about, so the first question asks for all."""
    for known in (_relay(False), _relay(True)):
        known.planned_paths.extend(paths)
        known.planned_units.extend(units)


def remote_path(path: str) -> RemoteFile | RemoteFolder | None:
    """What the relay holds at ``path`` (a file, a folder or nothing), read together with every path the run
    plans."""
    known = _relay()
    if path not in known.files:
        unread = [p for p in dict.fromkeys([*known.planned_paths, path]) if p not in known.files]
        known.files.update(host.get_fact(FileStates, paths=unread))
        for asked in unread:  # no line for it: nothing read there (written again, the safe side)
            known.files.setdefault(asked, None)
    return known.files[path]


def remote_file(path: str) -> RemoteFile | None:
    """The regular file at ``path`` (None: anything else, or nothing)."""
    found = remote_path(path)
    return found if isinstance(found, RemoteFile) else None


def _folder_commands(folder: Folder) -> list:
    """What makes ``folder`` as it should be (decided now, from what the run knows), as one command."""
    commands = remote.folder_commands(folder, remote_path(folder.path))
    return [StringCommand(" && ".join(commands))] if commands else []


def _made(folder: Folder) -> None:
    """After the command that made ``folder`` succeeded: the run knows its new state."""
    now = remote_path(folder.path)
    kept = now if isinstance(now, RemoteFolder) else RemoteFolder(755, "root", "root")
    _relay().files[folder.path] = RemoteFolder(kept.mode if folder.mode is None else folder.mode,
                                               folder.user or kept.user, folder.group or kept.group)


def unit_status(units: list[str]) -> dict[str, UnitStatus]:
    """Each unit's state, read together with every unit the run plans, then kept as the run's systemctl calls
    leave it."""
    known = _relay()
    if any(unit not in known.units for unit in units):
        unread = [u for u in dict.fromkeys([*known.planned_units, *units]) if u not in known.units]
        known.units.update(remote.parse_units(unread, host.get_fact(UnitStates, units=unread)))
    return {unit: known.units[unit] for unit in units}


def _wrote(path: str, data: bytes, mode: int, user: str, group: str, in_place: bool) -> None:
    """After the commands that wrote ``path`` succeeded: the run knows its new state."""
    known = _relay()
    if in_place:  # a file written through keeps the owner and mode it had: read again if asked
        known.files.pop(path, None)
    else:
        known.files[path] = RemoteFile(hashlib.sha1(data).hexdigest(), mode, user, group)
    known.changed_paths.add(path)
    if path.startswith(UNITS + "/"):
        known.daemon_reload = True


@dataclass(frozen=True)
class _Write:
    """One file of an operation, and what it needs (decided before the operation yields anything: a preview
    runs an operation only up to its first command, and must still show every file's diff)."""

    data: bytes
    dest: str
    check: str | None
    mode: int
    user: str
    group: str
    in_place: bool
    commands: list


def _write(data: bytes, dest: str, check: str | None, mode: int, user: str, group: str, secret: bool,
           in_place: bool) -> _Write:
    """What putting ``data`` at ``dest`` needs now: nothing, its owner and mode, or the checked write (whose
    diff is shown under ``--diff``, never a secret's)."""
    remote_now = remote_file(dest)
    if remote_now and remote_now.sha1 == hashlib.sha1(data).hexdigest():
        if (remote_now.mode, remote_now.user, remote_now.group) == (mode, user, group):
            host.noop(f"{dest} is up to date")
            return _Write(data, dest, check, mode, user, group, in_place, [])
        quoted = shlex.quote(dest)
        return _Write(data, dest, check, mode, user, group, in_place,
                      [StringCommand(f"chown {user}:{group} {quoted} && chmod {mode} {quoted}")])
    if state.config.DIFF and secret:
        host.log(f"Will {'replace' if remote_now else 'create'} {format_text(dest, bold=True)} "
                 "(secret: no diff shown)", logger.info)
    elif state.config.DIFF:
        old = host.get_fact(FileContents, path=dest) if remote_now else []
        host.log(f"Will {'modify' if remote_now else 'create'} {format_text(dest, bold=True)}", logger.info)
        for line in generate_color_diff([line + "\n" for line in old or []], data.decode().splitlines(True)):
            logger.info("  %s", line)
    return _Write(data, dest, check, mode, user, group, in_place,
                  checked_write_commands(data, dest, check, mode, user, group, in_place))


def _run(folders: list[Folder], writes: list[_Write]):
    """The commands of an operation's folders and files, each noted as done once its commands succeeded."""
    for folder, commands in [(folder, _folder_commands(folder)) for folder in folders]:
        if commands:
            yield from commands
            _made(folder)
    for write in writes:
        if write.commands:
            yield from write.commands
            _wrote(write.dest, write.data, write.mode, write.user, write.group, write.in_place)


@operation()
def checked_file(content: str | bytes, dest: str, check: str | None = None, mode: int = 644,
                 user: str = "root", group: str = "root", secret: bool = False, in_place: bool = False):
    """Put ``content`` at ``dest`` only after ``check`` accepted it.

    The new file is uploaded beside the old one, ``check`` (a command with
    ``{path}`` for the new file) must exit 0, and only then does a rename replace
    the old file: a broken config never replaces a working one, and the run fails
    with the checking program's own message. Unchanged content is a no-op.
    ``secret`` files are never shown in a diff; ``in_place`` files (a container
    engine's bind-mounted /etc/resolv.conf) are overwritten instead of renamed.
    """
    data = content.encode() if isinstance(content, str) else content
    yield from _run([], [_write(data, dest, check, mode, user, group, secret, in_place)])


@operation()
def checked_files(files: list[ConfigFile], folders: list[Folder]):
    """Several files of one concern in one operation, each exactly as ``checked_file`` writes it (its own check
    before its own rename), after the ``folders`` they need: one operation's round trips instead of one per file
    and folder."""
    writes = [_write(file.content.encode() if isinstance(file.content, str) else file.content, file.path,
                     file.check, int(file.mode), "root", "root", False, file.in_place) for file in files]
    yield from _run(folders, writes)


def checked_write_commands(data: bytes, dest: str, check: str | None, mode: int = 644, user: str = "root",
                           group: str = "root", in_place: bool = False) -> list:
    """The one way the kit replaces a file: upload beside it, check the new file, then rename it over the old.

    A check that fails removes the new file and fails with the checking program's message. Owner, mode, check
    and rename are one shell command, each step only after the one before it succeeded: one round trip.
    """
    new = f"{dest}.exitkit-new"
    quoted = shlex.quote(new)
    steps = [f"chown {user}:{group} {quoted}", f"chmod {mode} {quoted}"]
    if check:
        steps.append(f"{{ {check.format(path=quoted)} || {{ rc=$?; rm -f {quoted}; exit $rc; }}; }}")
    if in_place:
        target = shlex.quote(dest)
        steps.append(f"{{ [ ! -L {target} ] || rm -f {target}; }} && cat {quoted} > {target} && rm -f {quoted}")
    else:
        steps.append(f"mv -f {quoted} {shlex.quote(dest)}")
    return [FileUploadCommand(BytesIO(data), new, remote_temp_filename=host.get_temp_filename(new)),
            StringCommand(" && ".join(steps))]


def write_now(file: ConfigFile) -> None:
    """``checked_write_commands`` run at once on the current host, for a callback that writes at run time
    (pyinfra's operations are planned before the run); raises with the checking program's message."""
    data = file.content.encode() if isinstance(file.content, str) else file.content
    for command in checked_write_commands(data, file.path, file.check, mode=int(file.mode)):
        if isinstance(command, FileUploadCommand):
            ok = host.put_file(command.src, command.dest)
            output = None
        else:
            ok, output = host.run_shell_command(command)
        if not ok:
            why = " ".join(output.stderr_lines[-3:]) if output else "the upload failed"
            raise RuntimeError(f"{file.path} was not replaced: {why}")
    _wrote(file.path, data, int(file.mode), "root", "root", file.in_place)


# ------------------------------------------------------------------ rolling restarts
_STOPPED_AT: dict[str, str] = {}  # rolling restart name -> the relay that did not come back


def ready_command(services: list[str], http_port: int, wait_seconds: int) -> str:
    """Waits until every service is active and the notice page answers 200 on the relay itself.

    On time-out it prints what is still wrong (a unit not active, the page not
    answering), so the operator knows whether tor or the page failed.
    """
    # at most 2 s per try: a page behind a firewall that drops would otherwise hold the connect for minutes
    probe = (f"timeout 2 bash -c \"exec 3<>/dev/tcp/127.0.0.1/{http_port} && "
             "printf 'HEAD / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'\"")
    why = (f"for u in {' '.join(services)}; do s=$(systemctl is-active $u 2>/dev/null); "
           f"[ \"$s\" = active ] || echo \"$u is ${{s:-unknown}}\"; done; "
           f"( {probe} ) 2>/dev/null || echo \"the notice page on 127.0.0.1:{http_port} did not answer 200\"")
    loop = (f"end=$(( $(date +%s) + {wait_seconds} )); "
            f"until systemctl is-active -q {' '.join(services)} && ( {probe} ) 2>/dev/null; do "
            f"[ $(date +%s) -lt $end ] || {{ {why}; exit 1; }}; sleep 0.2; done")
    return "bash -c " + shlex.quote(loop)


def _restart_and_wait(roll: str, services: Callable[[], list[str]], ready: list[str], http_port: int,
                      wait_seconds: int) -> None:
    stopped = _STOPPED_AT.get(roll)
    if stopped:
        raise RuntimeError(f"not restarted: the rolling restart stopped because {stopped} did not come back; "
                           f"{host.name} keeps running its previous configuration until the next run")
    units = " ".join(services())
    restarted, output = host.run_shell_command(StringCommand(f"systemctl restart {units}"))
    answered = False
    if restarted:
        answered, output = host.run_shell_command(StringCommand(ready_command(ready, http_port, wait_seconds)))
    if not (restarted and answered):
        _STOPPED_AT[roll] = host.name
        why = ": " + "; ".join(output.stdout_lines if restarted else output.stderr_lines[-3:])
        raise RuntimeError(f"{host.name} did not come back within {wait_seconds}s after restarting {units}{why}; "
                           "the rolling restart stops here and relays after it keep their previous configuration")


def rolling_restart(name: str, services: Callable[[], list[str]], ready: list[str], http_port: int,
                    wait_seconds: int, batch: int, when):
    """Restart ``services`` (asked at run time) a batch of relays at a time; each batch must answer first.

    pyinfra runs an operation with ``_parallel=N`` in batches of N hosts; the
    callback restarts, then waits until the ``ready`` services are active and the notice
    page answers. A relay that does not come back stops the roll: every later
    relay fails this operation unrestarted (its new configuration waits, and
    the next run restarts it, see the units' "applied" markers).
    """
    from pyinfra.operations import python

    return python.call(name=name, function=_restart_and_wait, roll=name, services=services, ready=ready,
                       http_port=http_port, wait_seconds=wait_seconds, _parallel=batch, _if=when)


# ------------------------------------------------------------------ secrets to the control machine
def _download_secret(state, host, src: str, dest: str) -> None:
    if host.get_fact(File, path=src) is None:
        return  # no key yet (tor has not run): copied on a later run
    buffer = BytesIO()
    host.get_file(src, buffer)
    target = Path(dest)
    if target.exists():
        if target.read_bytes() == buffer.getvalue():
            return
        # a relay whose key changed: keep the old copy, add the new one beside it
        target = target.with_name(f"{target.name}.{hashlib.sha1(buffer.getvalue()).hexdigest()[:8]}")
        if target.exists():
            return
    write_secret(target, buffer.getvalue())


@operation()
def fetch_secret(src: str, dest: str):
    """Copy a relay's secret file (a tor identity key) to the control machine, unless the copy is current.

    Never shown, never overwritten: a copy that differs from the relay's file
    stays, and the relay's file is kept beside it under a name with its hash.
    """
    remote = host.get_fact(Sha1File, path=src)
    local = Path(dest)
    if remote and local.exists() and hashlib.sha1(local.read_bytes()).hexdigest() == remote:
        host.noop(f"{dest} is a current copy")
        return
    yield FunctionCommand(_download_secret, (src, dest), {})


def write_config(file: ConfigFile, name: str, folders: list[Folder] | None = None):
    """One file of exitkit.configs as an operation: every file takes the one checked-write path (uploaded beside
    the old one, checked by its own program if it has one, renamed over it), shows a diff under ``pyinfra --diff``
    and is a no-op when unchanged; so a run's uploads are exactly the ``<path>.exitkit-new`` files it names.
    ``folders`` are made (or given their owner and mode) first, in the same operation."""
    if folders:
        return write_configs([file], name, folders).operation
    _plan(paths=[file.path])
    return checked_file(name=name, content=file.content, dest=file.path, check=file.check, mode=int(file.mode),
                        in_place=file.in_place)


@dataclass(frozen=True)
class Written:
    """A group of files written by one operation, and which of them this run changed (asked at run time, as
    ``_if`` conditions are)."""

    operation: object

    def did_change(self) -> bool:
        return self.operation.did_change()  # type: ignore[attr-defined]

    def changed(self, *paths: str) -> Callable[[], bool]:
        """A condition for a later operation: did this run change any of ``paths``."""
        return lambda: bool(_relay().changed_paths.intersection(paths))


def secret_file(name: str, content: bytes, dest: str, user: str, group: str, mode: int, folder: Folder):
    """A secret (never shown in a diff) in its ``folder``, both made as they should be, in one operation."""
    _plan(paths=[folder.path, dest])
    return _secret_file(name=name, content=content, dest=dest, user=user, group=group, mode=mode, folder=folder)


@operation()
def _secret_file(content: bytes, dest: str, user: str, group: str, mode: int, folder: Folder):
    yield from _run([folder], [_write(content, dest, None, mode, user, group, True, False)])


def write_configs(files: list[ConfigFile], name: str, folders: list[Folder] | None = None) -> Written:
    """Files of one concern in one operation, each still checked by its own program before it replaces its old
    one, after the ``folders`` they need; ``changed(path)`` tells a later operation which of them changed."""
    _plan(paths=[folder.path for folder in folders or []] + [file.path for file in files])
    return Written(checked_files(name=name, files=files, folders=folders or []))


# ------------------------------------------------------------------ units
def units(name: str, wanted: list[WantedUnit], restart: Callable[[], bool] | None = None,
          reload: Callable[[], bool] | None = None, fresh: Callable[[], bool] | None = None):
    """The kit's units brought to how they should be in one operation and one remote command: unmasked,
    enabled, systemd reloaded once if this run changed a unit file, then each started, or restarted (reloaded)
    when ``restart`` (``reload``) says something it reads changed, or left alone. A unit that was not running
    starts once with its final configuration, never started and then restarted. ``fresh``: something other than
    the kit's own operations may have changed these units since the run read them (a package installed after
    the read, masked first): when it says so, they are read again."""
    _plan(units=[unit.name for unit in wanted])
    return _units(name=name, wanted=wanted, restart=restart, reload=reload, fresh=fresh)


@operation()
def _units(wanted: list[WantedUnit], restart: Callable[[], bool] | None, reload: Callable[[], bool] | None,
           fresh: Callable[[], bool] | None):
    known = _relay()
    if fresh and state.is_executing and fresh():
        for unit in wanted:
            known.units.pop(unit.name, None)
    # while planning a preview, what the run will change is not known yet: a restart or reload is shown as due
    restarting = restart() if restart and state.is_executing else bool(restart)
    reloading = reload() if reload and state.is_executing else bool(reload)
    wanted = [replace(u, restart=u.restart or restarting, reload=u.reload or reloading) for u in wanted]
    commands, after = remote.converge_units(wanted, unit_status([u.name for u in wanted]), known.daemon_reload)
    if not commands:
        host.noop(f"{', '.join(u.name for u in wanted)} as wanted")
        return
    yield StringCommand(" && ".join(commands))
    known.units.update(after)
    known.daemon_reload = False
