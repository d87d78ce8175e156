"""Nightly maintenance on real relays: timers, the log purge, the guarded reboot."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from exitkit.maintenance.files import reboot_check_command, reboot_findings
from exitkit.maintenance.purge import PURGE_STAMP, log_age_command, log_age_findings, purge_timing
from exitkit.plan import plan_fleet
from tests.fleet.harness import pid1_started, restart_count

LIFETIME_HOURS = 12  # the shared fleet's log_lifetime_hours


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


def test_every_relay_reboots_as_its_page_says(fleet, first_run):
    """The check the claims registry runs for the reboot sentences: the guarded script, the timer at its time."""
    loaded = fleet.described()
    plans = plan_fleet(loaded)
    for relay in fleet.relays:
        output = fleet.exec(relay.name, "bash", "-c", reboot_check_command()).stdout
        settings = loaded.relay(relay.name).settings
        assert reboot_findings(output, settings, plans[relay.name].reboot) == [], relay.name


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
    assert "MaxRetentionSec=359min" in config  # the purge interval for log_lifetime_hours 12
    assert host.run("find /var/log/journal -type f").stdout == ""


def test_every_relay_keeps_the_logs_promise_after_converging(fleet, first_run):
    """The check the claims registry runs: no log line on any relay older than the lifetime."""
    for relay in fleet.relays:
        output = fleet.exec(relay.name, "bash", "-c", log_age_command([])).stdout
        assert log_age_findings(output, LIFETIME_HOURS) == [], relay.name


# Everything that must come through the purge unchanged: names, sizes, times and contents of every
# instance's keys and fingerprints (tor rewrites its state file on its own) and of all configuration.
KEYED = ("/var/lib/tor/keys /var/lib/tor/fingerprint* "
         "/var/lib/tor-instances/i2/keys /var/lib/tor-instances/i2/fingerprint* /etc")
KEYS_AND_CONFIG = (f"find -P {KEYED} -xdev -printf '%p %y %s %T@ %m\\n' | sort | sha256sum; "
                   f"find -P {KEYED} -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum")
# journald of this relay, for a moment two days behind: entries it writes then are two days old
FAKETIME = "/run/exitkit-test-faketime"
JOURNALD_DROPIN = "/run/systemd/system/systemd-journald.service.d/exitkit-test-faketime.conf"
AGE_THE_JOURNAL = f"""set -e
mkdir -p {FAKETIME} && cd {FAKETIME}
[ -d root ] || {{ apt-get download -q libfaketime >/dev/null && dpkg -x libfaketime_*.deb root; }}
library=$(find {FAKETIME}/root -name libfaketime.so.1)
mkdir -p $(dirname {JOURNALD_DROPIN})
printf '[Service]\\nEnvironment=LD_PRELOAD=%s FAKETIME=-2d\\n' "$library" > {JOURNALD_DROPIN}
systemctl daemon-reload && systemctl restart systemd-journald
echo 'an entry of two days ago' | systemd-cat -t exitkit-aged
journalctl --rotate
rm {JOURNALD_DROPIN}
systemctl daemon-reload && systemctl restart systemd-journald
"""
# a file in every log folder, every log written two days ago, a fresh access log, a link to the keys
AGE_THE_FILES = """set -e
find -P /var/log -xdev -path /var/log/journal -prune -o -type f -exec touch -d '2 days ago' {} +
find -P /var/log -xdev -path /var/log/journal -prune -o -type d -print | while read -r folder; do
    echo 'a line of two days ago' > "$folder/exitkit-aged.log"; touch -d '2 days ago' "$folder/exitkit-aged.log"
    echo 'a rotated line' > "$folder/exitkit-aged.log.2.gz"; touch -d '3 days ago' "$folder/exitkit-aged.log.2.gz"
done
echo 'GET / 200 a fresh line' > /var/log/lighttpd/access.log
ln -sfn /var/lib/tor/keys /var/log/lighttpd/keys-link
"""


def stamp_purge(fleet, name: str, minutes_ago: int, previous_minutes_ago: int) -> None:
    """As if the last purge ran minutes_ago (and the one before it previous_minutes_ago)."""
    fleet.exec(name, "bash", "-c", f"echo $(( $(date +%s) - {previous_minutes_ago * 60} )) > {PURGE_STAMP} && "
                                   f"touch -d '{minutes_ago} minutes ago' {PURGE_STAMP}")


def test_aged_logs_are_gone_after_a_purge_and_keys_and_config_untouched(fleet, first_run):
    name = "relay-1"  # a tor exit with two instances: keys in /var/lib/tor and /var/lib/tor-instances
    before = fleet.exec(name, "bash", "-c", KEYS_AND_CONFIG).stdout
    fleet.exec(name, "bash", "-c", AGE_THE_JOURNAL)
    fleet.exec(name, "bash", "-c", AGE_THE_FILES)
    folders = fleet.exec(name, "find", "-P", "/var/log", "-xdev", "-path", "/var/log/journal", "-prune", "-o",
                         "-type", "d", "-print").stdout.split()
    assert "/var/log/apt" in folders and "/var/log/lighttpd" in folders and "/var/log/private" in folders
    aged = log_age_findings(fleet.exec(name, "bash", "-c", log_age_command([])).stdout, LIFETIME_HOURS)
    assert any(finding.startswith("the journal holds an entry written 48") for finding in aged), aged
    assert any(finding.startswith("/var/log/apt/exitkit-aged.log holds lines") for finding in aged), aged
    interval = purge_timing(LIFETIME_HOURS).interval_minutes
    try:
        stamp_purge(fleet, name, 10, interval + 10)  # the last purge was on time: the new lines are kept once
        assert fleet.exec(name, "systemctl", "start", "exitkit-purge.service").returncode == 0
        output = fleet.exec(name, "bash", "-c", log_age_command([])).stdout
        assert log_age_findings(output, LIFETIME_HOURS) == []
        assert "exitkit-aged" not in fleet.exec(name, "journalctl", "--no-pager", "-o", "cat").stdout
        logs = {line.split(" ", 3)[3]: int(line.split(" ")[2]) for line in output.splitlines()
                if line.startswith("file ")}
        for folder in folders:
            assert logs[f"{folder}/exitkit-aged.log"] == 0, folder
            assert f"{folder}/exitkit-aged.log.2.gz" not in logs, folder
            assert f"{folder}/exitkit-aged.log.exitkit-previous" not in logs, folder
        for login_records in ("/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog"):
            assert logs.get(login_records, 0) == 0
        assert logs["/var/log/lighttpd/access.log"] == 0
        assert fleet.exec(name, "cat", "/var/log/lighttpd/access.log.exitkit-previous").stdout == (
            "GET / 200 a fresh line\n")
        stamp_purge(fleet, name, interval, 2 * interval)  # an interval later, the next purge
        assert fleet.exec(name, "systemctl", "start", "exitkit-purge.service").returncode == 0
        assert fleet.exec(name, "test", "-e", "/var/log/lighttpd/access.log.exitkit-previous",
                          check=False).returncode == 1
        assert fleet.exec(name, "test", "-L", "/var/log/lighttpd/keys-link").returncode == 0
        assert fleet.exec(name, "bash", "-c", KEYS_AND_CONFIG).stdout == before
        journal = fleet.exec(name, "journalctl", "-t", "exitkit-purge", "--no-pager", "-o", "cat").stdout
        assert "their lines since the last purge kept until the next" in journal
    finally:
        fleet.exec(name, "bash", "-c", f"rm -rf {FAKETIME} {JOURNALD_DROPIN} /var/log/lighttpd/keys-link; "
                   "find -P /var/log -xdev -name 'exitkit-aged.log*' -delete", check=False)


def test_reboot_refuses_while_a_deploy_is_connected(fleet, first_run):
    relay = fleet.relay("relay-3")
    before = restart_count(relay.container)
    assert fleet.host("relay-3").run("true").rc == 0  # an SSH session like pyinfra's stays open
    assert fleet.exec("relay-3", "systemctl", "start", "exitkit-reboot.service").returncode == 0
    journal = fleet.exec("relay-3", "journalctl", "-t", "exitkit-reboot", "--no-pager", "-o", "cat").stdout
    assert "not rebooting: a deploy is connected over SSH" in journal
    assert restart_count(relay.container) == before


def test_a_skipped_night_then_the_next_nights_reboot(fleet, first_run):
    """Two nights in a minute: a runtime drop-in (gone at the reboot, /run is in memory) moves the real
    timer's calendar to two moments just ahead. At the first, apt's lock is held and the journal says the
    night is skipped; at the second the lock is free and the relay reboots and comes back. (It also stands
    for the guard on apt's lock: the timer starts the very service a night would.)"""
    relay = fleet.relay("relay-3")
    booted, restarts = pid1_started(relay.container), restart_count(relay.container)
    calendar = timer_calendar(fleet.host("relay-3"))
    # no deploy connected: end the tests' own SSH sessions; all else goes through podman exec
    fleet.exec("relay-3", "pkill", "-f", "^sshd: [^ ]+@notty", check=False)
    holder = subprocess.Popen(["podman", "exec", relay.container, "python3", "-c",
                               "import fcntl, time; f = open('/var/lib/dpkg/lock-frontend', 'w'); "
                               "fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        now = int(fleet.exec("relay-3", "date", "+%s").stdout)
        tonight, tomorrow = (datetime.fromtimestamp(now + ahead, UTC) for ahead in (7, 18))
        nights = "".join(f"OnCalendar={night:%Y-%m-%d %H:%M:%S} UTC\\n" for night in (tonight, tomorrow))
        fleet.exec("relay-3", "bash", "-c", "mkdir -p /run/systemd/system/exitkit-reboot.timer.d && printf "
                   f"'[Timer]\\nOnCalendar=\\n{nights}AccuracySec=1s\\n' "
                   "> /run/systemd/system/exitkit-reboot.timer.d/exitkit-test-nights.conf && "
                   "systemctl daemon-reload && systemctl restart exitkit-reboot.timer")
        skipped = "not rebooting: /var/lib/dpkg/lock-frontend is held"
        deadline = time.monotonic() + 40
        journal = ""
        while skipped not in journal and time.monotonic() < deadline:
            time.sleep(1)
            journal = fleet.exec("relay-3", "journalctl", "-t", "exitkit-reboot", "--no-pager", "-o", "cat",
                                 f"--since=@{now}").stdout
        assert skipped in journal and "rebooting as scheduled" not in journal
        assert restart_count(relay.container) == restarts
    finally:
        fleet.exec("relay-3", "pkill", "-f", "fcntl.lockf", check=False)  # killing podman exec leaves it running
        holder.kill()
        holder.wait()
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
        pytest.fail(f"relay-3 did not reboot at the next night's time:\n{journal}")
    fleet.lab.wait_ready(relay)
    assert fleet.http("relay-3", "/").status_code == 200
    timers = fleet.exec("relay-3", "systemctl", "show", "-p", "TimersCalendar", "exitkit-reboot.timer").stdout
    assert calendar.split()[1] in timers and f"{tonight:%H:%M:%S}" not in timers  # its own time again
