"""The exitkit command answers an operator's questions about the demo fleet without touching a host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def exitkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exitkit", *args], cwd=PROJECT, text=True, capture_output=True)


def test_would_a_relay_exit_to_a_complained_about_destination():
    blocked = exitkit("policy", "inventory/demo.py", "relay-2", "--exits-to", "198.51.100.7:443")
    assert blocked.returncode == 1
    assert "does NOT exit" in blocked.stdout and "ticket 4711" in blocked.stdout
    allowed = exitkit("policy", "inventory/demo.py", "relay-2", "--exits-to", "198.51.100.8:443")
    assert allowed.returncode == 0 and "EXITS" in allowed.stdout
    private = exitkit("policy", "inventory/demo.py", "relay-1", "--exits-to", "10.0.0.1:443")
    assert private.returncode == 1


def test_policy_in_every_form():
    out = exitkit("policy", "inventory/demo.py", "relay-1").stdout
    for form in ("torrc", "nym", "nftables", "summary"):
        assert f"relay-1: {form}" in out
    assert "ExitPolicyRejectPrivate 1" in out and "table inet exitkit" in out


def test_schedule_table_lists_every_relay_once():
    out = exitkit("schedule", "inventory/demo.py").stdout
    assert [line.split()[0] for line in out.splitlines()[1:4]] == ["relay-1", "relay-2", "relay-3"]


def test_unknown_relay_is_named():
    result = exitkit("policy", "inventory/demo.py", "relay-9")
    assert result.returncode == 2 and "no relay 'relay-9'" in result.stderr


def test_a_reader_that_stops_early_gets_no_traceback():
    """`exitkit ... | head`: the pipe closes before exitkit writes; it stops quietly, as Unix tools do."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    try:
        done = subprocess.run([sys.executable, "-m", "exitkit", "policy", "inventory/demo.py", "relay-1"],
                              cwd=PROJECT, stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert done.stderr == "" and done.returncode == 141
