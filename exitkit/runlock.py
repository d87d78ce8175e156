"""One run at a time on a relay: the lock file a run keeps on each relay it deploys to.

A run writes ``/run/exitkit/deploy.lock`` naming itself (control machine, user, fleet
folder, start time, pid) and the process of its own SSH connection on the relay. The
lock is held while that connection lives: a run that ends, is killed or loses its
control machine closes the connection, sshd ends that process, and the next run
takes the lock over without anyone removing a file. Why the connection and not an
age or a heartbeat: a run may take hours (a restart roll, a release upgrade), a
heartbeat needs commands a no-op run would pay for, and the relay's own process table
needs no clock shared between machines. ``/run`` is emptied at boot, so a reboot
frees it too. Check and take happen under ``flock`` so two runs never both take it.

Pure text in, shell out: ``deploys/lock.py`` runs these commands and reads the answers.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, fields

LOCK_DIR = "/run/exitkit"
LOCK_NAME = "deploy.lock"
LOCK_FILE = f"{LOCK_DIR}/{LOCK_NAME}"
TAKEN = "exitkit-lock: taken"
HELD = "exitkit-lock: held"


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or asks for) a relay's lock; ``connection`` is its SSH connection's process on the relay."""

    control: str
    user: str
    fleet: str
    started: str  # UTC, ISO 8601
    pid: int
    connection: str = ""  # "<pid>:<start time>" of its SSH connection's process on the relay

    def text(self) -> str:
        """The lock file's content, one ``key=value`` a line (values on one line each)."""
        return "".join(f"{f.name}={_one_line(getattr(self, f.name))}\n" for f in fields(self)
                       if f.name != "connection")

    def describe(self) -> str:
        """Who, then since when, then from where: the summary cuts its line at its width, so who comes first."""
        return f"{self.user}@{self.control} (pid {self.pid}) since {self.started}, fleet folder {self.fleet}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def parse_holder(text: str) -> LockHolder:
    """A lock file's content back to its holder; fields it lacks read as unknown."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def number(key: str) -> int:
        try:
            return int(values.get(key, "0"))
        except ValueError:
            return 0

    return LockHolder(control=values.get("control", "unknown"), user=values.get("user", "unknown"),
                      fleet=values.get("fleet", "unknown"), started=values.get("started", "unknown"),
                      pid=number("pid"), connection=values.get("connection", ""))


# The process of this command's own SSH connection: the nearest ancestor named sshd* (sshd-session on OpenSSH
# 9.8 and later, sshd before); without one (another connector) the command's parent. It is named by pid and
# start time (/proc/<pid>/stat field 22), so a pid reused by another process never looks like the holder.
_CONNECTION = ('started() { sed "s/.*) //" /proc/$1/stat 2>/dev/null | cut -d" " -f20; }; '
               'p=$$; while [ "$p" -gt 1 ]; do case "$(cat /proc/$p/comm 2>/dev/null)" in sshd*) break;; esac; '
               "p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null); p=${p:-1}; done; "
               '[ "$p" -gt 1 ] || p=$PPID; me="$p:$(started $p)"')
# Whether another run's connection named in the lock file is alive: same pid, same start time.
_ALIVE = ('h=$(sed -n "s/^connection=//p" "$L"); '
          'alive() { [ -n "$h" ] && [ "$h" != "$me" ] && [ "${h%%:*}:$(started ${h%%:*})" = "$h" ]; }')


def acquire_command(holder: LockHolder, wait_seconds: int = 0, lock_dir: str = LOCK_DIR) -> str:
    """Take the lock, or report its holder. Prints TAKEN, or HELD and the holder's lock file.

    A lock held by this very connection is taken again (a second read in the same run); one whose
    connection has gone is taken over. ``wait_seconds`` > 0: wait that long for the holder to finish.
    """
    script = (
        f"L={lock_dir}/{LOCK_NAME}; mkdir -p {lock_dir} && chmod 755 {lock_dir} || exit 1; {_CONNECTION}; "
        f"end=$(( $(date +%s) + {int(wait_seconds)} )); "
        f"while :; do exec 9>$L.guard; flock 9; "
        f'if [ -s "$L" ]; then {_ALIVE}; else alive() {{ false; }}; fi; '
        f"if ! alive; then "
        f"printf %s {shlex.quote(holder.text())} > \"$L.new\" && echo connection=$me >> \"$L.new\" && "
        f'chmod 644 "$L.new" && mv -f "$L.new" "$L" && echo {shlex.quote(TAKEN)}; exit $?; fi; '
        f"exec 9>&-; "
        f'if [ $(date +%s) -ge $end ]; then echo {shlex.quote(HELD)}; cat "$L"; exit 0; fi; sleep 2; done'
    )
    return "sh -c " + shlex.quote(script)


def release_command(holder: LockHolder, lock_dir: str = LOCK_DIR) -> str:
    """Remove the lock if it is still this run's (same start and pid): never another run's lock."""
    mine = f"started={_one_line(holder.started)}"
    pid = f"pid={holder.pid}"
    script = (f"L={lock_dir}/{LOCK_NAME}; [ -e \"$L\" ] || exit 0; exec 9>$L.guard; flock 9; "
              f"grep -qxF {shlex.quote(mine)} \"$L\" && grep -qxF {shlex.quote(pid)} \"$L\" && rm -f \"$L\"; exit 0")
    return "sh -c " + shlex.quote(script)


def held_message(relay: str, holder: LockHolder, waited: int) -> str:
    """What the run says of a relay it left alone because another run holds its lock."""
    waited_text = f" (waited {waited}s)" if waited else ""
    return (f"held by {holder.describe()}{waited_text}; {relay} left alone: run again when that run has "
            f"finished, or set run_lock_wait_seconds to wait ({LOCK_FILE})")
