"""The run lock's shell, run for real on the control machine: a holder is a live process, a gone one frees it.

On a relay the holder is the run's SSH connection (its sshd process); here, with no sshd above the command, it is
the command's parent: a shell that stays alive holds the lock, and killing it is a run that is gone.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitkit.runlock import HELD, TAKEN, LockHolder, acquire_command, held_message, parse_holder, release_command

FIRST = LockHolder("ctl-a.example.net", "alice", "/srv/fleet", "2026-11-30T08:00:00Z", 4242)
SECOND = LockHolder("ctl-b.example.net", "bob", "/home/bob/fleet", "2026-11-30T08:01:00Z", 777)


def take(holder: LockHolder, folder, wait: int = 0) -> str:
    return subprocess.run(["sh", "-c", acquire_command(holder, wait, lock_dir=str(folder))],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def first_holds(tmp_path):
    """A run that took the lock and is still alive (its shell sleeps on)."""
    run = subprocess.Popen(["sh", "-c", acquire_command(FIRST, lock_dir=str(tmp_path)) + " && sleep 60"],
                           stdout=subprocess.PIPE, text=True)
    assert run.stdout and run.stdout.readline().strip() == TAKEN
    yield run
    run.kill()
    run.wait()


def test_a_live_holder_keeps_the_lock_and_is_named(tmp_path, first_holds):
    out = take(SECOND, tmp_path).splitlines()
    assert out[0] == HELD
    holder = parse_holder("\n".join(out[1:]))
    assert (holder.control, holder.user, holder.fleet, holder.started, holder.pid) == \
        (FIRST.control, FIRST.user, FIRST.fleet, FIRST.started, FIRST.pid)
    message = held_message("relay-1", holder, 0)
    assert message.startswith("held by alice@ctl-a.example.net (pid 4242) since 2026-11-30T08:00:00Z, "
                              "fleet folder /srv/fleet; relay-1 left alone")
    # another run's release never removes it
    subprocess.run(["sh", "-c", release_command(SECOND, lock_dir=str(tmp_path))], check=True)
    assert take(SECOND, tmp_path).startswith(HELD)


def test_a_waiting_run_waits_then_takes_the_lock_once_the_holder_is_gone(tmp_path, first_holds):
    started = time.monotonic()
    assert take(SECOND, tmp_path, wait=2).startswith(HELD)
    assert time.monotonic() - started >= 2
    waiting = subprocess.Popen(["sh", "-c", acquire_command(SECOND, 30, lock_dir=str(tmp_path))],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    first_holds.kill()
    first_holds.wait()
    out, _ = waiting.communicate(timeout=30)
    assert out.strip() == TAKEN
    assert parse_holder((tmp_path / "deploy.lock").read_text()).user == "bob"


def test_a_lock_whose_run_is_gone_is_taken_over_and_released_by_its_new_holder(tmp_path):
    gone = subprocess.run(["sh", "-c", acquire_command(FIRST, lock_dir=str(tmp_path)) + "; true"],
                          capture_output=True, text=True, check=True)
    assert gone.stdout.strip() == TAKEN  # its shell (the holder) has ended: the run is gone
    assert parse_holder((tmp_path / "deploy.lock").read_text()).user == "alice"
    assert take(SECOND, tmp_path).strip() == TAKEN
    subprocess.run(["sh", "-c", release_command(SECOND, lock_dir=str(tmp_path))], check=True)
    assert not (tmp_path / "deploy.lock").exists()


@given(st.text(min_size=1, max_size=40))
def test_a_holder_reads_back_as_written_on_one_line_each(user):
    holder = LockHolder("ctl", user, "/f", "2026-11-30T08:00:00Z", 1)
    assert parse_holder(holder.text()).user == " ".join(user.split())
