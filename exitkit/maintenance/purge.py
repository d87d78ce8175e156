"""The log purge: which folders may be purged (never the relay's keys or configuration), and the command."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

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


LOG_ROOT = "/var/log"
"""Always purged: everything Debian and its services write as files lands here."""
PREVIOUS_SUFFIX = ".exitkit-previous"
"""A log's lines from the last interval, kept one more interval beside it."""
PURGE_STAMP = "/var/lib/exitkit/log-purge.stamp"
"""Modified when a purge emptied every log; holds the epoch second of the purge before it."""
PURGE_SCRIPT = "/usr/local/sbin/exitkit-purge"
SLACK_MINUTES = 1
"""How late a purge may start or finish after its timer elapses (AccuracySec=1s, a run takes seconds)."""
MAX_LIFETIME_HOURS = 8760


@dataclass(frozen=True)
class PurgeTiming:
    """How often the purge runs so that no log line outlives the promised lifetime.

    Each run deletes what the run before kept (``*.exitkit-previous``, archived
    journal files), then empties every log, keeping its lines as the previous
    generation only if the last run was on time. A line written just after one
    run is kept at the next and gone at the one after: it lives at most two
    gaps between runs, and a run keeps lines only when its gap was at most
    ``interval + slack``. So 2 * (interval + slack) <= lifetime, and a line
    lives at least one interval (at least ``interval_minutes`` for the operator
    to read it).
    """

    lifetime_hours: int
    interval_minutes: int

    @property
    def max_gap_seconds(self) -> int:
        """The longest gap between runs after which a run still keeps the previous generation."""
        return (self.interval_minutes + SLACK_MINUTES) * 60

    @property
    def longest_line_minutes(self) -> int:
        """The most a log line can live while the timer runs (two on-time gaps)."""
        return 2 * (self.interval_minutes + SLACK_MINUTES)


def purge_timing(lifetime_hours: int) -> PurgeTiming:
    """The purge interval for a promised lifetime: half of it, less the slack of two runs."""
    if not is_whole_number(lifetime_hours) or not 1 <= lifetime_hours <= MAX_LIFETIME_HOURS:
        raise ValueError(f"expected a log lifetime as a whole number of hours from 1 to {MAX_LIFETIME_HOURS}")
    return PurgeTiming(lifetime_hours, (lifetime_hours * 60 - 2 * SLACK_MINUTES) // 2)


def log_dirs(extra_dirs: list[str]) -> tuple[str, ...]:
    """/var/log and the operator's further log directories, checked; a folder inside another is left out."""
    if isinstance(extra_dirs, str):
        raise ValueError(f"{_PURGE_EXPECTED}; expected a list of directories, got the single string {extra_dirs!r}")
    checked = check_purge_dirs([LOG_ROOT, *extra_dirs])
    return tuple(path for path in checked
                 if not any(_parts(path)[: len(_parts(other))] == _parts(other) and path != other for other in checked))


def purge_command(extra_dirs: list[str], lifetime_hours: int) -> list[str]:
    """argv of the purge script for checked dirs: the longest gap that still keeps lines, then the dirs.

    The script never follows symbolic links, stays on each directory's file
    system and touches only regular files (never the journal's own folders).
    """
    timing = purge_timing(lifetime_hours)
    return [PURGE_SCRIPT, str(timing.max_gap_seconds), *log_dirs(extra_dirs)]


def log_age_command(extra_dirs: list[str]) -> str:
    """Shell command (run as root on the relay) printing what log_age_findings judges.

    Lines: ``now EPOCH``; ``stamp MTIME PREVIOUS`` or ``stamp none``; ``journal MICROSECONDS``
    (the oldest entry's time) or ``journal none``; then ``file MTIME SIZE PATH`` per log file.
    """
    dirs = " ".join(shlex.quote(path) for path in log_dirs(extra_dirs))
    stamp = shlex.quote(PURGE_STAMP)
    return (
        'echo "now $(date +%s)"; '
        f'if [ -e {stamp} ]; then echo "stamp $(stat -c %Y {stamp}) $(cat {stamp})"; else echo "stamp none"; fi; '
        # journalctl orders by sequence, not by time: the oldest entry is the smallest timestamp
        "oldest=$(journalctl -q -o json --output-fields=_PID --no-pager 2>/dev/null"
        " | grep -o '\"__REALTIME_TIMESTAMP\" *: *\"[0-9]*\"' | grep -o '[0-9][0-9]*' | sort -n | head -n 1); "
        'echo "journal ${oldest:-none}"; '
        f"find -P {dirs} -xdev -path /var/log/journal -prune -o -type f -printf 'file %T@ %s %p\\n'"
    )


@dataclass(frozen=True)
class _LogFile:
    written: float
    size: int
    path: str


def _parse_log_ages(output: str) -> tuple[int, tuple[int, int] | None, float | None, list[_LogFile]]:
    now: int | None = None
    stamp: tuple[int, int] | None = None
    journal: float | None = None
    logs: list[_LogFile] = []
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "now":
            now = int(rest)
        elif kind == "stamp" and rest != "none":
            done, previous = rest.split()
            stamp = int(done), int(previous)
        elif kind == "journal" and rest != "none":
            journal = int(rest) / 1_000_000
        elif kind == "file":
            written, size, path = rest.split(" ", 2)
            logs.append(_LogFile(float(written), int(size), path))
        elif line.strip() and kind not in ("stamp", "journal"):
            raise ValueError(f"expected the output of log_age_command, got the line {line!r}")
    if now is None:
        raise ValueError("expected the output of log_age_command, which starts with 'now EPOCH'")
    return now, stamp, journal, logs


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def log_age_findings(output: str, lifetime_hours: int) -> list[str]:
    """Every way the relay breaks "no log line outlives the lifetime", from log_age_command's output.

    Empty when the promise holds: the purge ran within its interval, every log
    file was emptied by it or written only since, the lines it kept are from
    after the purge before, and the journal's oldest entry is within the lifetime.
    """
    timing = purge_timing(lifetime_hours)
    lifetime = lifetime_hours * 3600
    now, stamp, journal, logs = _parse_log_ages(output)
    findings = []
    if journal is not None and now - journal > lifetime:
        findings.append(f"the journal holds an entry written {_hours(now - journal)} ago, "
                        f"more than the {lifetime_hours} h lifetime")
    if stamp is None:
        return [*findings, f"the log purge never ran ({PURGE_STAMP} is missing)"]
    done, previous = stamp
    if now - done > timing.max_gap_seconds:
        findings.append(f"the last log purge ran {(now - done) // 60} minutes ago, more than its "
                        f"{timing.max_gap_seconds // 60} minutes")
    for log in logs:
        if log.size == 0:
            continue
        kept = log.path.endswith(PREVIOUS_SUFFIX)
        since = previous if kept else done
        if log.written < since:
            findings.append(f"{log.path} holds lines from before the purge that should have emptied it "
                            f"(written {_hours(now - log.written)} ago)")
        elif kept and done - previous > timing.max_gap_seconds:
            findings.append(f"{log.path} was kept although the purge before ran {(done - previous) // 60} "
                            "minutes earlier")
        elif now - since > lifetime:
            findings.append(f"{log.path} may hold lines from {_hours(now - since)} ago, "
                            f"more than the {lifetime_hours} h lifetime")
    return findings
