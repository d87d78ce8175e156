"""One run at a time on a relay: take its lock before anything is read for the plan, release it at the end.

The lock is taken while the deploy is prepared (a fact), not when operations start: the
plan is made from facts, and facts read while another run changes the relay would make
a plan for a relay that no longer exists. A relay whose lock another live run holds
gets one failing operation naming the holder, so pyinfra stops it there before any
other operation of it runs, and the fleet summary shows why; the other relays go on.
``--dry`` previews take no lock. See exitkit/runlock.py for when a lock counts as held.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import shlex
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from pyinfra import host, state
from pyinfra.api import FactBase, StringCommand, deploy
from pyinfra.api.state import BaseStateCallback, State
from pyinfra.operations import server

from deploys.context import relay_plan, relay_settings
from deploys.release import relay_release
from exitkit import runlock
from exitkit.runlock import LockHolder

# This run, as its lock files name it (one start time and pid for every relay of the run).
THIS_RUN = LockHolder(control=socket.gethostname(), user=getpass.getuser(), fleet="", pid=os.getpid(),
                      started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


class RunLock(FactBase):
    """Takes the relay's run lock (waiting up to ``wait_seconds``) or reports who holds it."""

    def command(self, holder: str, wait_seconds: int) -> str:
        return runlock.acquire_command(runlock.parse_holder(holder), wait_seconds)

    def process(self, output):
        lines = list(output)
        if lines and lines[0] == runlock.TAKEN:
            return None
        return runlock.parse_holder("\n".join(lines[1:]))


def previewing() -> bool:
    """``--dry``: pyinfra keeps this flag to its command line only, so it is read from there."""
    return "--dry" in sys.argv[1:]


class LockRelease(BaseStateCallback):
    """Releases this run's locks once the run's last operation has ended on every relay."""

    def __init__(self) -> None:
        self.held: dict[str, LockHolder] = {}

    def operation_end(self, state: State, op_hash) -> None:  # type: ignore[override]
        order = state.get_op_order()
        if not order or op_hash != order[-1]:
            return
        for relay in state.activated_hosts:
            holder = self.held.pop(relay.name, None)
            if holder is not None and relay.connected:
                relay.run_shell_command(StringCommand(runlock.release_command(holder)))


def _release_handler() -> LockRelease:
    for handler in state.callback_handlers:
        if isinstance(handler, LockRelease):
            return handler
    handler = LockRelease()
    state.add_callback_handler(handler)
    return handler


@deploy("One run at a time")
def take_lock():
    if previewing() or relay_release() is None:
        return  # a preview changes nothing; a relay of another release is refused untouched
    settings = relay_settings()
    holder = dataclasses.replace(THIS_RUN, fleet=str((relay_plan().fleet_dir or Path.cwd()).resolve()))
    held_by = host.get_fact(RunLock, holder=holder.text(), wait_seconds=settings.run_lock_wait_seconds)
    if held_by is None:
        _release_handler().held[host.name] = holder
        return
    message = runlock.held_message(host.name, held_by, settings.run_lock_wait_seconds)
    server.shell(name="Relay locked by another run", commands=[f"echo {shlex.quote(message)} >&2; exit 1"])
