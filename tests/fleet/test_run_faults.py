"""Runs that go wrong (issue 19): stopped, doubled, cut off, out of disk. The relay keeps a true page.

A fleet of its own, one Debian 13 tor exit, converged once and shared by the tests in
order. Each test breaks a run the way it breaks in practice, then checks that the relay
serves a page whose promised log lifetime its journal and purge keep, that the run's
exit status and summary tell the truth, and that the next run converges with no manual
step. The log lifetime is what each run changes: it is written on the page and in the
journal and purge settings, the pair an interrupted or doubled run could part.
"""

from __future__ import annotations

import copy
import getpass
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from exitkit.lab.containers import LocalFleet
from exitkit.lab.runs import DEPLOY, pyinfra_command
from exitkit.maintenance.purge import PURGE_SCRIPT, SLACK_MINUTES, purge_timing
from exitkit.runlock import LOCK_FILE, parse_holder
from tests.fleet.harness import Run, TestFleet, lab_fleet

GROUPS = {"exits": {"relay-1": {"nickname": "runfaults1", "public_ipv4": "192.0.2.71"}}}
GROUP_DATA = {"all": {"operator_name": "Test Exit Collective", "abuse_email": "abuse@example.net",
                      "domain": "example.net", "network": "tor", "exit_policy": "tor-reduced",
                      "log_lifetime_hours": 12, "test_network_off": True}}
RELAY = "relay-1"
PAGE_OPERATION = "Notice page | Notice pages"  # the pages themselves, every language in one operation


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    with lab_fleet(LocalFleet("runfaults", 1), tmp_path_factory.mktemp("runfaults"), GROUPS, GROUP_DATA) as fleet:
        first = fleet.deploy()
        assert first.returncode == 0, first.stderr[-4000:]
        yield fleet


# ------------------------------------------------------------------ what the relay promises and keeps
def promised_hours(fleet: TestFleet) -> int:
    """The log lifetime the page served now promises ("no entry in it is older than N hours")."""
    page = fleet.http(RELAY, "/", headers={"Accept-Language": "en"}).text
    found = {int(n) for n in re.findall(r"(?:older than|at most) (\d+) hours", page)}
    assert len(found) == 1, (found, page[:2000])
    return found.pop()


def longest_log_minutes(fleet: TestFleet) -> int:
    """The longest a log line can live under the relay's journald and purge settings, in minutes: two purge
    intervals with their slack (exitkit.maintenance.purge.PurgeTiming.longest_line_minutes)."""
    journald = fleet.exec(RELAY, "systemd-analyze", "cat-config", "systemd/journald.conf").stdout
    purge = fleet.exec(RELAY, "systemctl", "cat", "exitkit-purge.service").stdout
    retention = int(re.findall(r"^MaxRetentionSec=(\d+)min", journald, re.M)[-1])
    gap = int(re.search(rf"^ExecStart={PURGE_SCRIPT} (\d+) ", purge, re.M).group(1))  # type: ignore[union-attr]
    return max(2 * (retention + SLACK_MINUTES), 2 * gap // 60)


def assert_page_holds(fleet: TestFleet) -> None:
    """The page answers and no log lives longer than it promises."""
    assert fleet.http(RELAY).status_code == 200
    assert longest_log_minutes(fleet) <= promised_hours(fleet) * 60, (longest_log_minutes(fleet),
                                                                      promised_hours(fleet))


def with_lifetime(fleet: TestFleet, hours: int) -> None:
    fleet.group_data["all"]["log_lifetime_hours"] = hours


def assert_converges(fleet: TestFleet, hours: int) -> None:
    """The next plain run, with no manual step: status 0, Converged, and the relay at the settings."""
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.summary[-1].endswith("Converged."), run.summary
    assert promised_hours(fleet) == hours
    assert longest_log_minutes(fleet) == purge_timing(hours).longest_line_minutes


# ------------------------------------------------------------------ a run broken at an operation
def run_broken_at(fleet: TestFleet, operation: str, breaks: Callable[[subprocess.Popen], None],
                  folder: Path | None = None) -> Run:
    """The real pyinfra run from the fleet folder, broken by ``breaks`` as ``operation`` starts."""
    fleet.write()
    folder = folder or fleet.folder
    run = subprocess.Popen([pyinfra_command(), "-y", str(folder / "inventory" / f"{fleet.lab.name}.py"),
                            str(DEPLOY)], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert run.stdout is not None
    seen = []
    for line in run.stdout:
        seen.append(line)
        if line.startswith("--> ") and operation in line:
            breaks(run)
            break
    else:
        pytest.fail(f"the run never started {operation!r}:\n{''.join(seen)[-3000:]}")
    rest, _ = run.communicate(timeout=600)
    return Run(run.returncode, "", "".join(seen) + rest)


def interrupt(run: subprocess.Popen) -> None:
    run.send_signal(signal.SIGINT)


def assert_not_converged(run: Run, stopped_by: str | None = None) -> list[str]:
    assert run.returncode != 0, run.stderr[-3000:]
    row = run.summary_row(RELAY)
    assert row[0].startswith(f"! {RELAY}") and ("NOT CONVERGED" in row[0] or "FAILED" in row[0]), run.summary
    assert run.summary[-1].endswith(f"NOT CONVERGED, run again for {RELAY}"), run.summary
    if stopped_by:
        assert f"Run stopped by {stopped_by}." in run.summary[-1]
    return row


@pytest.mark.parametrize(("point", "operation", "hours"), [
    ("before the page", "Logs with a promised lifetime | Journal in memory only", 6),
    ("while the page is written", PAGE_OPERATION, 4),
    ("after the page", "Notice page | lighttpd enabled and running", 3),
])
def test_a_run_stopped_by_ctrl_c_leaves_a_true_page_and_says_not_converged(faults, point, operation, hours):
    fleet = faults
    with_lifetime(fleet, hours)  # each point shortens the lifetime from the last one's
    run = run_broken_at(fleet, operation, interrupt)
    assert run.returncode == 128 + signal.SIGINT, run.stderr[-3000:]
    assert "Run stopped by SIGINT." in run.summary[-1], run.summary
    row = run.summary_row(RELAY)
    if point != "after the page" or "NOT CONVERGED" in row[0]:  # after the page, the last operations may be done
        assert_not_converged(run, "SIGINT")
        assert any(line.strip().startswith("not run: ") for line in row), row
    assert_page_holds(fleet)
    assert_converges(fleet, hours)


def test_two_runs_at_once_one_converges_the_other_leaves_the_relay_alone(faults, tmp_path):
    """Two checkouts of the fleet (the second with its own copy of the secrets) with different lifetimes."""
    fleet = faults
    other = TestFleet(fleet.lab, tmp_path / "second-checkout")
    other.groups, other.group_data = copy.deepcopy(fleet.groups), copy.deepcopy(fleet.group_data)
    shutil.copytree(fleet.folder / "secrets", other.folder / "secrets")
    with_lifetime(other, 48)
    with_lifetime(fleet, 24)
    second: list[Run] = []

    def second_run_meets_the_lock(first: subprocess.Popen) -> None:
        holder = parse_holder(fleet.exec(RELAY, "cat", LOCK_FILE).stdout)
        assert Path(holder.fleet).resolve() == fleet.folder.resolve() and holder.pid == first.pid
        second.append(other.deploy())

    first = run_broken_at(fleet, "Logs with a promised lifetime | Journal in memory only", second_run_meets_the_lock)
    assert first.returncode == 0, first.stderr[-3000:]
    (refused,) = second
    assert refused.returncode != 0
    row = "\n".join(refused.summary_row(RELAY))
    assert f"failed: Relay locked by another run: held by {getpass.getuser()}@" in row, row
    assert f"fleet folder {fleet.folder.resolve()}" in refused.stderr
    assert refused.summary[-1].endswith(f"NOT CONVERGED, run again for {RELAY}")
    assert "FAILED, no change" in row  # pyinfra prints no --json results when no relay is left
    assert promised_hours(fleet) == 24
    assert longest_log_minutes(fleet) == purge_timing(24).longest_line_minutes
    assert fleet.exec(RELAY, "test", "!", "-e", LOCK_FILE).returncode == 0  # released at the end
    # the second checkout's next run converges the relay to its settings
    assert_converges(other, 48)
    with_lifetime(fleet, 48)


def test_a_run_whose_ssh_connection_drops_fails_and_the_next_run_takes_its_lock_over(faults):
    fleet = faults
    with_lifetime(fleet, 8)

    def drop_connection(_: subprocess.Popen) -> None:
        holder = parse_holder(fleet.exec(RELAY, "cat", LOCK_FILE).stdout)
        fleet.exec(RELAY, "kill", "-KILL", holder.connection.split(":")[0])  # the run's own sshd, nothing else

    run = run_broken_at(fleet, "Logs with a promised lifetime | Journal in memory only", drop_connection)
    assert_not_converged(run)
    assert_page_holds(fleet)
    assert fleet.exec(RELAY, "test", "-e", LOCK_FILE).returncode == 0  # left by the cut-off run
    assert_converges(fleet, 8)


def test_a_full_disk_under_the_page_fails_the_run_and_the_old_page_stays(faults):
    fleet = faults
    docroot = "/var/www/exitkit"
    before = fleet.http(RELAY).text
    # a small filesystem over the web root, holding the current page and full to the last byte
    fill = (f"cp -a {docroot} /tmp/docroot && mount -t tmpfs -o size=1m exitkit-full {docroot} && "
            f"cp -a /tmp/docroot/. {docroot}/ && rm -rf /tmp/docroot && "
            f"{{ dd if=/dev/zero of={docroot}/.filler bs=4k 2>/dev/null; true; }}")
    subprocess.run(["podman", "exec", "--privileged", fleet.relay(RELAY).container, "sh", "-c", fill], check=True)
    try:
        with_lifetime(fleet, 6)
        run = fleet.deploy()
        row = assert_not_converged(run)
        assert any("failed: " in line for line in row), row
        assert fleet.http(RELAY).text == before
        assert_page_holds(fleet)
    finally:
        subprocess.run(["podman", "exec", "--privileged", fleet.relay(RELAY).container, "sh", "-c",
                        f"cp -a {docroot} /tmp/docroot && umount -l {docroot} && cp -a /tmp/docroot/. {docroot}/ && "
                        f"rm -rf /tmp/docroot {docroot}/.filler"], check=True)
    assert_converges(fleet, 6)
    # a file cut short by the full disk stayed beside the page, never in its place; the next run replaced it
    assert fleet.exec(RELAY, "find", docroot, "-name", "*.exitkit-new").stdout == ""
    again = fleet.deploy("--debug")
    assert again.returncode == 0 and again.changes == 0, again.changed()
    # a no-op run pays two commands for the lock: taking it while preparing, releasing it at the end
    commands = re.findall(r"Running command on relay-1: (.*)", again.stderr)
    assert sum(LOCK_FILE in command for command in commands) == 2, len(commands)
    print(f"no-op re-run after the faults: {len(commands)} remote commands on {RELAY}")
