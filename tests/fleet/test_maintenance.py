"""Nightly maintenance on real relays: timers, the log purge, the guarded reboot."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from tests.fleet.harness import pid1_started, restart_count


def timer_calendar(host) -> str:
    line = next(text for text in host.file("/etc/systemd/system/exitkit-reboot.timer").content_string.splitlines()
                if text.startswith("OnCalendar="))
    return line.split("=", 1)[1]


def test_timers_exist_and_their_times_parse(fleet, first_run):
    for relay in fleet.relays:
        host = fleet.host(relay.name)
        for timer in ("exitkit-reboot.timer", "exitkit-purge.timer"):
            assert host.service(timer).is_enabled, (relay.name, timer)
            assert host.service(timer).is_running, (relay.name, timer)
        calendar = timer_calendar(host)
        check = host.run(f"systemd-analyze calendar '{calendar}'")
        assert check.rc == 0, check.stderr
        assert "Next elapse" in check.stdout


def test_fleet_schedule_respects_window_and_at_once_limit(fleet, first_run):
    """Times read back from the relays: inside 02:00-04:00 Berlin, never two in one 15-minute slot."""
    starts = []
    for relay in fleet.relays:
        calendar = timer_calendar(fleet.host(relay.name))
        assert calendar.endswith(" Europe/Berlin"), calendar
        hh, mm = calendar.split()[1].split(":")[:2]
        start = datetime(2025, 1, 15, int(hh), int(mm))
        assert datetime(2025, 1, 15, 2, 0) <= start <= datetime(2025, 1, 15, 3, 45), calendar
        starts.append(start)
    starts.sort()
    for earlier, later in pairwise(starts):
        assert later - earlier >= timedelta(minutes=15), starts  # reboot_max_at_once 1, 15-minute slots


def test_journal_lives_in_memory_only(fleet, first_run):
    host = fleet.host("relay-1")
    config = host.run("systemd-analyze cat-config systemd/journald.conf").stdout
    assert "Storage=volatile" in config
    assert "MaxRetentionSec=360min" in config  # half of log_lifetime_hours 12
    assert host.run("find /var/log/journal -type f").stdout == ""


def test_purge_removes_old_logs_and_never_the_keys(fleet, first_run):
    host = fleet.host("relay-2")
    plant = (
        "mkdir -p /var/log/lighttpd/old /var/lib/tor/keys && "
        "echo old > /var/log/lighttpd/error.log.1 && touch -d '13 hours ago' /var/log/lighttpd/error.log.1 && "
        "echo old > /var/log/lighttpd/old/access.log.2 && touch -d '2 days ago' /var/log/lighttpd/old/access.log.2 && "
        "echo new > /var/log/lighttpd/error.log && touch -d '11 hours ago' /var/log/lighttpd/error.log && "
        "echo key > /var/lib/tor/keys/secret_id_key && touch -d '400 days ago' /var/lib/tor/keys/secret_id_key && "
        "ln -sfn /var/lib/tor/keys /var/log/lighttpd/keys-link"
    )
    assert host.run(plant).rc == 0
    started = host.run("systemctl start exitkit-purge.service")
    assert started.rc == 0, started.stderr
    assert not host.file("/var/log/lighttpd/error.log.1").exists
    assert not host.file("/var/log/lighttpd/old/access.log.2").exists
    assert host.file("/var/log/lighttpd/old").is_directory
    assert host.file("/var/log/lighttpd/error.log").exists
    assert host.file("/var/lib/tor/keys/secret_id_key").content_string == "key\n"
    assert host.file("/var/log/lighttpd/keys-link").is_symlink
    host.run("rm -f /var/log/lighttpd/keys-link /var/log/lighttpd/error.log; "
             "rm -rf /var/log/lighttpd/old /var/lib/tor/keys")


def test_reboot_refuses_while_apt_holds_its_lock(fleet, first_run):
    relay = fleet.relay("relay-3")
    before = restart_count(relay.container)
    holder = subprocess.Popen(["podman", "exec", relay.container, "python3", "-c",
                               "import fcntl, time; f = open('/var/lib/dpkg/lock-frontend', 'w'); "
                               "fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = fleet.exec("relay-3", "systemctl", "start", "exitkit-reboot.service")
        assert result.returncode == 0
        journal = fleet.exec("relay-3", "journalctl", "-t", "exitkit-reboot", "--no-pager", "-o", "cat").stdout
        assert "not rebooting: /var/lib/dpkg/lock-frontend is held" in journal
        assert restart_count(relay.container) == before
    finally:
        fleet.exec("relay-3", "pkill", "-f", "fcntl.lockf", check=False)  # killing podman exec leaves it running
        holder.kill()
        holder.wait()


def test_reboot_refuses_while_a_deploy_is_connected(fleet, first_run):
    relay = fleet.relay("relay-3")
    before = restart_count(relay.container)
    assert fleet.host("relay-3").run("true").rc == 0  # an SSH session like pyinfra's stays open
    assert fleet.exec("relay-3", "systemctl", "start", "exitkit-reboot.service").returncode == 0
    journal = fleet.exec("relay-3", "journalctl", "-t", "exitkit-reboot", "--no-pager", "-o", "cat").stdout
    assert "not rebooting: a deploy is connected over SSH" in journal
    assert restart_count(relay.container) == before


def test_reboot_brings_the_relay_back(fleet, first_run):
    relay = fleet.relay("relay-3")
    booted, restarts = pid1_started(relay.container), restart_count(relay.container)
    # no deploy connected: end the tests' own SSH sessions, then start the reboot through podman exec
    fleet.exec("relay-3", "pkill", "-f", "^sshd: [^ ]+@notty", check=False)
    fleet.exec("relay-3", "systemctl", "start", "--no-block", "exitkit-reboot.service")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if restart_count(relay.container) > restarts and pid1_started(relay.container) != booted:
                break
        except subprocess.CalledProcessError:
            pass  # between stop and start
        time.sleep(1)
    else:
        journal = fleet.exec("relay-3", "journalctl", "-t", "exitkit-reboot", "--no-pager", "-o", "cat",
                             check=False).stdout
        pytest.fail(f"relay-3 did not come back from its reboot:\n{journal}")
    fleet.lab.wait_ready(relay)
    assert fleet.http("relay-3", "/").status_code == 200
