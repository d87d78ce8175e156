"""What a relay holds where the kit writes, read for many files or units in one command.

A first converge writes some thirty files and starts a dozen units; asking for each
one on its own costs a round trip per question (two per file: its metadata, then its
checksum). These commands ask for all of a run's files, or all of its units, at once,
and the parsers turn their output into what a deploy decides from. Pure: the
commands are text, the parsers take lines.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, replace


# ------------------------------------------------------------------ files
@dataclass(frozen=True)
class RemoteFile:
    """A regular file on the relay: its content's sha1, mode (octal digits as an int, as pyinfra's File fact
    gives it), owner and group."""

    sha1: str
    mode: int
    user: str
    group: str


def _one_line_paths(paths: Iterable[str]) -> list[str]:
    listed = list(paths)
    for path in listed:
        if "\n" in path or not path.startswith("/"):
            raise ValueError(f"a relay path is absolute and on one line, got {path!r}")
    return listed


@dataclass(frozen=True)
class RemoteFolder:
    """A folder on the relay (not a symlink to one): mode (octal digits as an int), owner and group."""

    mode: int
    user: str
    group: str


@dataclass(frozen=True)
class Folder:
    """A folder the kit needs; ``mode``, ``user``, ``group`` None: whatever it has (``mkdir -p`` makes it root's,
    755), as pyinfra's files.directory leaves them."""

    path: str
    mode: int | None = None
    user: str | None = None
    group: str | None = None


def files_command(paths: Iterable[str]) -> str:
    """One line per path: ``file MODE:USER:GROUP SHA1 PATH`` for a regular file (not a symlink),
    ``dir MODE:USER:GROUP PATH`` for a folder (not a symlink), else ``none PATH``."""
    quoted = " ".join(shlex.quote(p) for p in _one_line_paths(paths))
    return (f'for p in {quoted}; do if [ -L "$p" ]; then echo "none $p"; elif [ -f "$p" ]; then '
            'echo "file $(stat -c %a:%U:%G -- "$p") $(sha1sum < "$p" | cut -c1-40) $p"; '
            'elif [ -d "$p" ]; then echo "dir $(stat -c %a:%U:%G -- "$p") $p"; '
            'else echo "none $p"; fi; done')


def parse_files(lines: Iterable[str]) -> dict[str, RemoteFile | RemoteFolder | None]:
    """``files_command``'s lines by path; a line that does not read as a file or a folder reads as nothing there
    (so it is written again: the safe side)."""
    found: dict[str, RemoteFile | RemoteFolder | None] = {}
    for line in lines:
        kind, _, rest = line.partition(" ")
        meta, _, rest = rest.partition(" ") if kind in ("file", "dir") else ("", "", rest)
        owner = meta.split(":")
        readable = len(owner) == 3 and owner[0].isdigit()
        if kind == "file":
            sha1, _, path = rest.partition(" ")
            found[path] = RemoteFile(sha1, int(owner[0]), owner[1], owner[2]) \
                if readable and len(sha1) == 40 else None
        elif kind == "dir":
            found[rest] = RemoteFolder(int(owner[0]), owner[1], owner[2]) if readable else None
        elif kind == "none":
            found[rest] = None
    found.pop("", None)
    return found


def folder_commands(folder: Folder, now: RemoteFile | RemoteFolder | None) -> list[str]:
    """What makes ``folder`` as wanted from what is there ``now``: created with its parents, then owner and mode
    where they differ (a file in its place makes ``mkdir`` fail, with its message)."""
    quoted = shlex.quote(folder.path)
    owner = (folder.user or "") + (f":{folder.group}" if folder.group else "")  # "user:group", "user" or ":group"
    if not isinstance(now, RemoteFolder):
        return [f"mkdir -p {quoted}"] + ([f"chown {owner} {quoted}"] if owner else []) + \
            ([f"chmod {folder.mode} {quoted}"] if folder.mode is not None else [])
    commands = []
    if (folder.user and now.user != folder.user) or (folder.group and now.group != folder.group):
        commands.append(f"chown {owner} {quoted}")
    if folder.mode is not None and now.mode != folder.mode:
        commands.append(f"chmod {folder.mode} {quoted}")
    return commands


# ------------------------------------------------------------------ systemd units
@dataclass(frozen=True)
class UnitStatus:
    """What a deploy needs of a unit: whether it is masked, running (active), enabled at boot."""

    masked: bool = False
    active: bool = False
    enabled: bool = False


@dataclass(frozen=True)
class WantedUnit:
    """How a unit should be after an operation. ``running``/``enabled`` None: left as they are. ``restart``: a
    running unit restarts (something it reads only at start changed); ``reload``: it reloads; a unit that was not
    running starts once, with what is already in place, and needs neither."""

    name: str
    running: bool | None = True
    enabled: bool | None = True
    restart: bool = False
    reload: bool = False


# pyinfra's own reading (systemd.SystemdStatus, SystemdEnabled), kept so no-op runs judge units as before
ACTIVE = ("active", "reloading")
ENABLED = ("enabled", "static")
_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState")


def units_command(units: Iterable[str]) -> str:
    """One block per unit, in order, of ``KEY=VALUE`` lines, blocks parted by an empty line."""
    names = list(units)
    return (f"systemctl show --property {','.join(_PROPERTIES)} -- {' '.join(shlex.quote(u) for u in names)}"
            " 2>/dev/null || true")


def parse_units(units: Iterable[str], lines: Iterable[str]) -> dict[str, UnitStatus]:
    """``units_command``'s blocks, matched to ``units`` in order; a unit without an answer reads as stopped,
    disabled, not masked: the deploy then starts and enables it, the safe side."""
    blocks: list[dict[str, str]] = [{}]
    for line in lines:
        if not line.strip():
            if blocks[-1]:
                blocks.append({})
            continue
        key, _, value = line.partition("=")
        blocks[-1][key.strip()] = value.strip()
    blocks = [block for block in blocks if block]
    names = list(units)
    if len(blocks) != len(names):
        return {name: UnitStatus() for name in names}
    return {name: UnitStatus(masked=block.get("LoadState") == "masked",
                             active=block.get("ActiveState") in ACTIVE,
                             enabled=block.get("UnitFileState") in ENABLED)
            for name, block in zip(names, blocks, strict=True)}


def converge_units(wanted: Iterable[WantedUnit], now: dict[str, UnitStatus],
                   daemon_reload: bool = False) -> tuple[list[str], dict[str, UnitStatus]]:
    """The systemctl commands that bring ``wanted`` units from ``now`` to how they should be, in the order systemd
    needs them, and the units' state afterwards.

    Unmasking, enabling and disabling change unit files without reloading systemd (``--no-reload``); one
    ``daemon-reload`` then follows if any of them ran or ``daemon_reload`` says a unit file changed, so systemd
    reads every changed file once, before any unit starts. Then each unit starts, restarts, reloads or stops.
    """
    files: list[str] = []
    runs: list[str] = []
    after = dict(now)
    for unit in wanted:
        status = now.get(unit.name, UnitStatus())
        quoted = shlex.quote(unit.name)
        if status.masked and (unit.running or unit.enabled):
            files.append(f"systemctl unmask --no-reload {quoted}")
            status = replace(status, masked=False)
        if unit.enabled is not None and unit.enabled != status.enabled:
            files.append(f"systemctl {'enable' if unit.enabled else 'disable'} --no-reload {quoted}")
            status = replace(status, enabled=unit.enabled)
        if unit.running and not status.active:
            runs.append(f"systemctl start {quoted}")
            status = replace(status, active=True)
        elif unit.running is False and status.active:
            runs.append(f"systemctl stop {quoted}")
            status = replace(status, active=False)
        elif status.active and unit.restart:
            runs.append(f"systemctl restart {quoted}")
        elif status.active and unit.reload:
            runs.append(f"systemctl reload {quoted}")
        after[unit.name] = status
    reload = ["systemctl daemon-reload"] if files or daemon_reload else []
    return files + reload + runs, after
