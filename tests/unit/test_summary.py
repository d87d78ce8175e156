"""The fleet summary: its text (exitkit.summary) and how a pyinfra run fills it (deploys.summary)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exitkit.summary import (
    CONTINUED,
    GAP,
    HEADER,
    INDENT,
    ITEM_LINES,
    WIDTH,
    RelayOutcome,
    format_summary,
    short_op_name,
)

POLICY = "3f2a9c0d1e2b"


def relay(name: str, **kw) -> RelayOutcome:
    base = {"network": "tor", "nickname": f"nick{name[-1]}", "address": f"192.0.2.{len(name)}", "policy_id": POLICY}
    return RelayOutcome(name=name, **{**base, **kw})


def relay_lines(text: str) -> list[str]:
    """The lines of the relays themselves: between the column header and the verdict, not indented."""
    return [line for line in text.splitlines()[2:-1] if not line.startswith(INDENT)]


def test_a_fleet_that_changed_nothing_says_so_for_every_relay():
    text = format_summary([relay("relay-1"), relay("relay-2", network="nym"), relay("relay-3")])
    lines = text.splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 6  # header, column names, three relays, verdict
    for line in relay_lines(text):
        assert line.startswith("  ") and line.endswith("no change")
    assert lines[-1] == "3 relays: 0 changed, 3 unchanged. Converged."



def test_a_long_note_keeps_its_end_and_a_very_long_one_is_cut_after_a_few_lines():
    """A CA's or apt's own words end with what went wrong: a note up to ITEM_LINES lines is shown whole."""
    ca = ("HTTPS: no certificate yet, the CA said: urn:ietf:params:acme:error:rateLimited: too many certificates "
          "(5) already issued for this exact set of identifiers in the last 168 hours: relay-1.example.net, "
          "retry after 2026-12-01 10:00:00 UTC")
    lines = format_summary([relay("relay-1", changed=["Notice page index.html"], notes=[ca])]).splitlines()
    note = [line for line in lines if line.startswith(INDENT)]
    assert 1 < len(note) <= ITEM_LINES and note[0].startswith(f"{INDENT}note: HTTPS")
    assert note[-1].endswith("retry after 2026-12-01 10:00:00 UTC") and all(len(line) <= WIDTH for line in note)
    huge = format_summary([relay("relay-1", failed=["x " * 1000])]).splitlines()
    item = [line for line in huge if line.startswith(INDENT)]
    assert len(item) == ITEM_LINES and item[-1].endswith("…")

def test_columns_line_up():
    text = format_summary([relay("r1", nickname="a", address="192.0.2.1"),
                           relay("a-longer-name", nickname="exitkittest1234567", address="2001:db8::1")])
    starts = {line.index(POLICY) for line in relay_lines(text)}
    assert len(starts) == 1
    assert text.splitlines()[1].index("policy") == starts.pop()


def test_changes_are_counted_and_named_short():
    text = format_summary([relay("relay-1", changed=[
        "Exit policy in nftables | Exit policy ruleset, checked by nft -c first",
        "Exit policy in nftables | Reload systemd (for the exit policy unit)"])])
    assert relay_lines(text)[0].endswith("2 changed: Exit policy ruleset, Reload systemd")
    assert text.splitlines()[-1].startswith("1 relay: 1 changed, 0 unchanged.")


def test_a_long_list_of_changes_is_cut_with_an_ellipsis_within_the_width():
    changed = [f"Notice page | Notice page index.{lang}.html" for lang in ("de", "fr", "ja", "es", "it", "nl", "pl")]
    changed += ["Notice page | lighttpd configuration, checked by lighttpd -tt first"]
    line = relay_lines(format_summary([relay("relay-1", changed=changed)]))[0]
    assert len(line) <= WIDTH
    assert "8 changed: Notice page index.de.html, " in line and line.endswith(", …")
    assert "lighttpd configuration" not in line


def test_the_same_change_on_several_files_is_named_once():
    line = relay_lines(format_summary([relay("relay-1",
                                             changed=["Base | Reload systemd (a)", "Base | Reload systemd (b)"])]))[0]
    assert line.endswith("2 changed: Reload systemd")


def test_a_skipped_relay_is_marked_and_named_with_the_reason():
    text = format_summary([relay("relay-1", changed=["x"]),
                           relay("relay-3", skipped_reason="Could not connect ([Errno 111] Connection refused)")])
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("! relay-3"))
    assert lines[at].endswith("SKIPPED")
    assert lines[at + 1] == f"{INDENT}unreachable: Could not connect ([Errno 111] Connection refused)"
    assert lines[-1] == "2 relays: 1 changed, 0 unchanged, 1 skipped. NOT CONVERGED, run again for relay-3"


def test_a_failed_operation_is_named_with_its_first_error_line():
    text = format_summary([relay("relay-2", changed=["a"],
                                 failed=["lighttpd configuration: (configfile.c.1) parser failed"])])
    lines = text.splitlines()
    assert lines[2].startswith("! relay-2") and lines[2].endswith("FAILED, 1 changed: a")
    assert lines[3] == f"{INDENT}failed: lighttpd configuration: (configfile.c.1) parser failed"
    assert lines[-1].endswith("1 failed. NOT CONVERGED, run again for relay-2")


def test_notes_need_attention_but_the_fleet_still_converged():
    hint = "no reverse DNS for 192.0.2.21: ask the provider for tor-exit-1.example.net"
    text = format_summary([relay("relay-1", notes=[hint, hint]), relay("relay-2")])
    assert text.count(hint) == 1
    assert relay_lines(text)[0].startswith("! relay-1") and relay_lines(text)[1].startswith("  relay-2")
    assert text.splitlines()[-1] == "2 relays: 0 changed, 2 unchanged, 1 note. Converged; read the notes above."


def test_many_relays_behind_are_not_all_listed_in_the_verdict():
    outcomes = [relay(f"relay-{i}", skipped_reason="down") for i in range(1, 7)]
    assert format_summary(outcomes).splitlines()[-1].endswith("run again for relay-1, relay-2, relay-3 and 3 more")


@pytest.mark.parametrize("name, short", [
    ("Notice page | lighttpd configuration, checked by lighttpd -tt first", "lighttpd configuration"),
    ("Load the new exit policy (nft -f replaces our table atomically)", "Load the new exit policy"),
    ("Notice page | Notice page index.ja.html", "Notice page index.ja.html"),
    ("Server/Shell", "Server/Shell"),
])
def test_short_op_names(name, short):
    assert short_op_name(name) == short


# --- properties
names = st.from_regex(r"[a-z][a-z0-9.-]{0,23}", fullmatch=True)
free_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=150)


@st.composite
def fleets(draw) -> list[RelayOutcome]:
    relay_names = draw(st.lists(names, min_size=1, max_size=25, unique=True))
    out = []
    for name in relay_names:
        skipped = draw(st.none() | free_text)
        out.append(RelayOutcome(
            name=name, network=draw(st.sampled_from(["tor", "nym", "anyone", "mix"])),
            nickname=draw(st.from_regex(r"[A-Za-z0-9]{1,19}", fullmatch=True)),
            address=draw(st.sampled_from(["192.0.2.1", "2001:db8:1234:5678:9abc:def0:1234:5678", "",
                                          "tor-exit-1.example.net"])),
            policy_id=draw(st.from_regex(r"[0-9a-f]{12}", fullmatch=True)),
            changed=[] if skipped is not None else draw(st.lists(free_text, max_size=12)),
            failed=[] if skipped is not None else draw(st.lists(free_text, max_size=3)),
            skipped_reason=skipped, notes=draw(st.lists(free_text, max_size=3))))
    return out


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_every_relay_appears_once_and_skipped_ones_with_their_reason(outcomes):
    text = format_summary(outcomes)
    lines = text.splitlines()
    rows = relay_lines(text)
    assert [row[2:].split(GAP)[0] for row in rows] == [o.name for o in outcomes]
    attention = sum((o.skipped_reason is not None) + len(o.failed) + len(dict.fromkeys(o.notes)) for o in outcomes)
    items = [line for line in lines if not line.startswith(CONTINUED)]  # first lines; the rest continue an item
    assert len(items) == 3 + len(outcomes) + attention  # bounded: nothing but relays and their attention items
    assert len(lines) <= 3 + len(outcomes) + attention * ITEM_LINES
    for o, row in zip(outcomes, rows, strict=True):
        assert row.startswith("! " if o.needs_attention else "  ")
        if o.skipped_reason is not None:
            at = lines.index(row) + 1
            item = [lines[at], *itertools.takewhile(lambda line: line.startswith(CONTINUED), lines[at + 1:])]
            reason = re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", o.skipped_reason).strip() or "no reason given"
            assert item[0].startswith(f"{INDENT}unreachable: ")
            shown = "".join(" ".join(item)[len(INDENT) + len("unreachable: "):].split())  # wraps add only spaces
            reason = "".join(reason.split())
            assert shown == reason or (shown.endswith("…") and len(item) == ITEM_LINES
                                       and reason.startswith(shown[:-1]))
            assert o.name in lines[-1] or "more" in lines[-1]
    for line in lines:
        assert "\n" not in line and "\r" not in line
        if line.startswith(INDENT):
            assert len(line) <= WIDTH
    for row in rows:  # names of changes give way first; only the bare count may overflow
        assert len(row) <= WIDTH or re.search(r"  (SKIPPED|(FAILED, )?(no change|\d+ changed))$", row)


# --- the pyinfra side: a real pyinfra run, on this machine and against a closed local port
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RELAY_DATA = {"nickname": "exitkitunit1", "operator_name": "Unit", "abuse_email": "abuse@example.net",
              "domain": "example.net", "network": "tor", "exit_policy": "tor-reduced"}


def test_a_pyinfra_run_is_summed_up_with_notes_changes_and_the_unreachable_relay(capsys, tmp_path):
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operation import add_op
    from pyinfra.api.operations import run_ops
    from pyinfra.operations import server

    from deploys import summary

    port = closed_port()
    inventory = Inventory((["@local", ("relay-down", {"ssh_hostname": "127.0.0.1", "ssh_port": port,
                                                      "nickname": "exitkitunit2"})], RELAY_DATA))
    state = State(inventory, Config())
    connect_all(state)
    local, down = inventory.get_host("@local"), inventory.get_host("relay-down")
    assert down not in state.activated_hosts
    tracker = summary._tracker(state)
    assert summary._tracker(state) is tracker and state.callback_handlers.count(tracker) == 1
    assert tracker.connect_errors["relay-down"].startswith("Could not connect")
    assert f"Unable to connect to port {port} on 127.0.0.1" in tracker.connect_errors["relay-down"]
    marker = tmp_path / "ran"
    add_op(state, server.shell, name="Base | Touch a marker, in a temporary folder", commands=[f"touch {marker}"])
    add_op(state, server.shell, name="Fail on purpose", commands=["echo 'broken config at line 3' >&2; exit 3"])
    summary.note_for(local, "reverse DNS: ask the provider")
    with pytest.raises(PyinfraError, match="No hosts remaining"):  # the one reachable host failed
        run_ops(state)
    disconnect_all(state)  # as pyinfra's command does in its `finally`
    err = capsys.readouterr().err
    text = err[err.index(HEADER):]
    assert marker.exists()
    rows = relay_lines(text)
    assert rows[0].startswith("! @local") and "1 changed: Touch a marker" in rows[0]
    assert f"{INDENT}failed: Fail on purpose: broken config at line 3" in text
    assert f"{INDENT}note: reverse DNS: ask the provider" in text
    assert rows[1].startswith("! relay-down") and rows[1].endswith("SKIPPED")
    assert f"{INDENT}unreachable: Could not connect ([Errno None] Unable to connect to port {port} on 127.0.0.1)" \
        in text
    tracker.print_once(state)  # the atexit hook after a printed summary prints nothing more
    assert HEADER not in capsys.readouterr().err


# ------------------------------------------------------------------ a run stopped by a signal
STOPPED_DEPLOY = """
from pyinfra.operations import server
from deploys import summary
summary.track()
server.shell(name="Settings | Write the settings", commands=["touch {folder}/settings"])
server.shell(name="Settings | Wait for the signal", commands=["touch {folder}/waiting; sleep 8"])
server.shell(name="Notice page | Write the page", commands=["touch {folder}/page"])
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_run_stopped_by_a_signal_fails_and_names_what_did_not_run(tmp_path, signum):
    """pyinfra's own command on @local, stopped mid-run: status 128 + the signal (pyinfra alone exits 0 on
    SIGINT), the relay NOT CONVERGED with the operations that did not run, and the one after the stop never ran."""
    (tmp_path / "inventory.py").write_text(f"relays = [('@local', {RELAY_DATA!r})]\n")
    (tmp_path / "deploy.py").write_text(STOPPED_DEPLOY.format(folder=tmp_path))
    pyinfra = Path(sys.executable).with_name("pyinfra")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.Popen([str(pyinfra), "-y", "inventory.py", "deploy.py"], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "waiting").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.1)
    run.send_signal(signum)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signum, (out, err)
    assert (tmp_path / "settings").exists() and not (tmp_path / "page").exists()
    text = err[err.index(HEADER):]
    row = relay_lines(text)[0]
    # the command in progress may finish before the signal is handled; the operation after it never runs
    assert row.startswith("! @local") and "NOT CONVERGED, " in row and "changed: Write the settings" in row, text
    assert re.search(rf"^{INDENT}not run: [12] operations?: (Wait for the signal, )?Write the page$", text, re.M), text
    assert text.splitlines()[-1] == (f"1 relay: 0 changed, 0 unchanged, 1 not finished. Run stopped by "
                                     f"{signal.Signals(signum).name}. NOT CONVERGED, run again for @local")


def test_an_unfinished_relay_is_not_converged():
    text = format_summary([relay("relay-1", changed=["Notice page | Write the page"],
                                 not_run=["Logs | Journal in memory only", "Logs | Purge timer"]), relay("relay-2")],
                          stopped_by="SIGINT")
    rows = relay_lines(text)
    assert rows[0].startswith("! relay-1") and rows[0].endswith("NOT CONVERGED, 1 changed: Write the page")
    assert f"{INDENT}not run: 2 operations: Journal in memory only, Purge timer" in text
    assert rows[1].startswith("  relay-2") and rows[1].endswith("no change")
    assert text.splitlines()[-1] == ("2 relays: 0 changed, 1 unchanged, 1 not finished. Run stopped by SIGINT. "
                                     "NOT CONVERGED, run again for relay-1")
