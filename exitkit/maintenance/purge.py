"""The log purge: which folders may be purged (never the relay's keys or configuration), and the command."""

from __future__ import annotations

from exitkit.maintenance.schedule import is_whole_number

_PURGE_EXPECTED = "expected log directories outside the relay's keys and configuration"

# Most specific first: messages name the first match. Each path is refused
# itself, with everything inside it and everything containing it.
_WHY_PROTECTED = {
    "/var/lib/tor": "holds the relay keys",
    "/var/lib/tor-instances": "holds the keys of further tor instances",
    "/etc/tor": "holds tor's configuration",
    "/etc/exitkit": "holds exitkit's configuration",
    "/var/lib/exitkit": "holds exitkit's state",
    "/etc/ssh": "holds the SSH host keys",
    "/root": "holds root's SSH keys",
    "/home": "holds the users' SSH keys",
    "/etc": "holds the system's configuration",
    "/var/lib": "holds the state of the system's packages and services",
    "/var/spool": "holds cron jobs and queued mail",
    "/var/backups": "holds the system's backups of its package and account databases",
    "/var/www": "holds the exit notice page",
    "/srv": "holds served files",
    "/boot": "holds the kernel and boot loader",
    "/usr": "holds the installed programs",
    "/bin": "holds the installed programs",
    "/sbin": "holds the installed programs",
    "/lib": "holds the installed libraries",
    "/lib64": "holds the installed libraries",
    "/opt": "holds installed programs",
    "/run": "holds the running services' state",
    "/proc": "is the kernel's view of processes",
    "/sys": "is the kernel's view of devices",
    "/dev": "holds the devices",
}
PROTECTED_PATHS: tuple[str, ...] = tuple(_WHY_PROTECTED)


def _parts(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _normalised_purge_dir(path: object) -> str:
    if not isinstance(path, str) or not path:
        raise ValueError(f"{_PURGE_EXPECTED}; {path!r} is not a path")
    if any(ord(character) < 32 or ord(character) == 127 for character in path):
        raise ValueError(f"{_PURGE_EXPECTED}; {path!r} contains a control character")
    if not path.startswith("/"):
        raise ValueError(f"{_PURGE_EXPECTED}; {path!r} is relative, and only an absolute path says where it is")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{_PURGE_EXPECTED}; {path} contains '..', which can lead into them")
    return "/" + "/".join(parts)


def _why_refused(path: str) -> str | None:
    parts = _parts(path)
    for protected, why in _WHY_PROTECTED.items():
        if parts == _parts(protected):
            return f"{path} {why}"
    inside = [protected for protected in PROTECTED_PATHS if parts[: len(_parts(protected))] == _parts(protected)]
    if inside:
        closest = max(inside, key=lambda protected: len(_parts(protected)))
        return f"{path} lies inside {closest}, which {_WHY_PROTECTED[closest]}"
    for protected, why in _WHY_PROTECTED.items():
        if _parts(protected)[: len(parts)] == parts:
            return f"{path} contains {protected}, which {why}"
    return None


def check_purge_dirs(dirs: list[str]) -> tuple[str, ...]:
    """Normalised log directories, refusing any that is, holds or lies inside a protected path.

    The purge deletes every old file under these directories, so a mistyped
    "/var" would delete the relay keys. Paths are judged as written (no file
    system is read); the purge itself does not follow symbolic links.
    """
    if isinstance(dirs, str):
        raise ValueError(f"{_PURGE_EXPECTED}; expected a list of directories, got the single string {dirs!r}")
    checked: list[str] = []
    for raw in dirs:
        path = _normalised_purge_dir(raw)
        why = _why_refused(path)
        if why is not None:
            raise ValueError(f"{_PURGE_EXPECTED}; {why}")
        if path not in checked:
            checked.append(path)
    if not checked:
        raise ValueError("expected at least one log directory to purge")  # find without a path searches "."
    return tuple(checked)


def purge_command(dirs: list[str], lifetime_hours: int) -> list[str]:
    """argv of a find that deletes regular files older than the log lifetime under checked dirs.

    -P never follows symbolic links (not even given ones), -xdev stays on each
    directory's file system, -type f leaves directories and links alone. Age is
    the last change: a log still being written never gets old, so logs must
    also be rotated at least as often as the lifetime for this to keep the promise.
    """
    checked = check_purge_dirs(dirs)
    if not is_whole_number(lifetime_hours) or not 1 <= lifetime_hours <= 8760:
        raise ValueError("expected a log lifetime as a whole number of hours from 1 to 8760")
    return ["find", "-P", *checked, "-xdev", "-type", "f", "-mmin", f"+{lifetime_hours * 60}", "-delete"]
