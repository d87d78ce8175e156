"""The log lifetime's arithmetic, the purge's directories, and the judges of a relay's log ages and reboots."""

from __future__ import annotations

import hashlib
from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitkit.maintenance.files import REBOOT_SCRIPT, reboot_files, reboot_findings
from exitkit.maintenance.purge import (
    PURGE_STAMP,
    SLACK_MINUTES,
    log_age_command,
    log_age_findings,
    log_dirs,
    purge_timing,
)
from exitkit.maintenance.schedule import RebootTime
from exitkit.settings import RelaySettings

NOW = 1_800_000_000
HOUR = 3600


@given(st.integers(1, 8760))
def test_no_line_outlives_the_lifetime_and_each_lives_nearly_half_of_it(hours):
    timing = purge_timing(hours)
    assert timing.longest_line_minutes <= hours * 60
    assert timing.longest_line_minutes >= hours * 60 - 1  # as long as the promise allows, within a minute
    assert timing.max_gap_seconds == (timing.interval_minutes + SLACK_MINUTES) * 60
    assert timing.interval_minutes >= 1


def test_one_hour_purges_every_29_minutes():
    assert purge_timing(1).interval_minutes == 29
    assert purge_timing(12).interval_minutes == 359


@pytest.mark.parametrize("hours", [0, -3, 8761, 2.5, True, "12"])
def test_timing_refuses_other_lifetimes(hours):
    with pytest.raises(ValueError, match="^expected a log lifetime as a whole number of hours from 1 to 8760$"):
        purge_timing(hours)


def test_var_log_is_always_purged_and_folders_inside_it_are_not_repeated():
    assert log_dirs([]) == ("/var/log",)
    assert log_dirs(["/var/log/lighttpd", "/srv-logs/nym", "/srv-logs/nym/old", "/var/log"]) == (
        "/var/log", "/srv-logs/nym")
    with pytest.raises(ValueError, match="/var/lib/tor holds the relay keys"):
        log_dirs(["/var/lib/tor"])


def test_the_command_reads_every_log_dir_stamp_and_journal():
    command = log_age_command(["/srv-logs/nym"])
    assert "find -P /var/log /srv-logs/nym -xdev" in command
    assert PURGE_STAMP in command and "journalctl" in command


def output(*, stamp: tuple[int, int] | None = (NOW - 600, NOW - 600 - 359 * 60), journal: float | None = NOW - HOUR,
           files: tuple[tuple[float, int, str], ...] = ()) -> str:
    lines = [f"now {NOW}", "stamp none" if stamp is None else f"stamp {stamp[0]} {stamp[1]}",
             f"journal {'none' if journal is None else int(journal * 1_000_000)}"]
    lines += [f"file {written} {size} {path}" for written, size, path in files]
    return "\n".join(lines) + "\n"


def test_a_relay_that_keeps_the_promise_has_no_findings():
    done = NOW - 600
    files = ((done + 1.5, 120, "/var/log/dpkg.log"), (done - 30, 4000, "/var/log/dpkg.log.exitkit-previous"),
             (NOW - 5 * 86400, 0, "/var/log/wtmp"), (done + 60, 9, "/var/log/name with spaces.log"))
    assert log_age_findings(output(files=files), 12) == []
    assert log_age_findings(output(journal=None), 12) == []


def test_a_file_the_purge_did_not_empty_is_named():
    findings = log_age_findings(output(files=((NOW - 2 * 86400, 10, "/var/log/apt/history.log"),)), 12)
    assert findings == ["/var/log/apt/history.log holds lines from before the purge that should have emptied it "
                        "(written 48.0 h ago)"]


def test_a_kept_file_older_than_the_purge_before_is_named():
    done, previous = NOW - 600, NOW - 600 - 359 * 60
    findings = log_age_findings(output(files=((previous - 5, 10, "/var/log/x.exitkit-previous"),)), 12)
    assert findings and findings[0].startswith("/var/log/x.exitkit-previous holds lines from before the purge")
    late = (done, done - 500 * 60)
    findings = log_age_findings(output(stamp=late, files=((done - 60, 10, "/var/log/x.exitkit-previous"),)), 12)
    assert findings == ["/var/log/x.exitkit-previous was kept although the purge before ran 500 minutes earlier"]


def test_an_old_journal_entry_is_named():
    assert log_age_findings(output(journal=NOW - 13 * HOUR), 12) == [
        "the journal holds an entry written 13.0 h ago, more than the 12 h lifetime"]


def test_a_late_or_missing_purge_is_named():
    assert log_age_findings(output(stamp=(NOW - 400 * 60, NOW - 800 * 60)), 12) == [
        "the last log purge ran 400 minutes ago, more than its 360 minutes"]
    assert log_age_findings(output(stamp=None), 12) == [f"the log purge never ran ({PURGE_STAMP} is missing)"]


def test_output_that_is_not_the_commands_is_refused():
    with pytest.raises(ValueError, match="starts with 'now EPOCH'"):
        log_age_findings("stamp none\n", 12)
    with pytest.raises(ValueError, match="got the line 'Permission denied'"):
        log_age_findings(f"now {NOW}\nPermission denied\n", 12)


@given(st.integers(1, 720), st.lists(st.integers(0, 3 * 720 * 60), max_size=8))
def test_files_written_since_the_purge_are_within_any_lifetime(hours, ages_in_seconds):
    """A purge on time, files written only since it: the promise holds, whatever the lifetime."""
    timing = purge_timing(hours)
    done = NOW - timing.interval_minutes * 60
    previous = done - timing.interval_minutes * 60
    files = tuple((max(done, NOW - age), 1, f"/var/log/f{index}") for index, age in enumerate(ages_in_seconds))
    files += tuple((max(previous, NOW - age), 1, f"/var/log/f{index}.exitkit-previous")
                   for index, age in enumerate(ages_in_seconds))
    assert log_age_findings(output(stamp=(done, previous), journal=previous, files=files), hours) == []


# --- the reboot sentences' check


def reboot_output(script: str, state: tuple[str, str, str], calendars: tuple[str, ...]) -> str:
    load, unit_file, active = state
    return "\n".join([f"{hashlib.sha256(script.encode()).hexdigest()}  {REBOOT_SCRIPT}", f"LoadState={load}",
                      f"UnitFileState={unit_file}", f"ActiveState={active}",
                      *(f"OnCalendar={calendar}" for calendar in calendars)]) + "\n"


KIT_SCRIPT = str(reboot_files(RelaySettings(), None)[0].content)
AT_TWO = RebootTime("relay-1", time(2, 0), "Europe/Berlin", time(1, 0))


def test_a_relay_rebooting_as_the_page_says_has_no_findings():
    output = reboot_output(KIT_SCRIPT, ("loaded", "enabled", "active"), (AT_TWO.on_calendar,))
    assert reboot_findings(output, RelaySettings(), AT_TWO) == []
    never = reboot_output(KIT_SCRIPT, ("not-found", "", "inactive"), ())
    assert reboot_findings(never, RelaySettings(reboot="never"), AT_TWO) == []


def test_a_script_without_the_guard_or_a_timer_elsewhere_is_named():
    unguarded = KIT_SCRIPT.replace("exit 0", "true")
    output = reboot_output(unguarded, ("loaded", "disabled", "inactive"), ("*-*-* 05:00:00 UTC",))
    assert reboot_findings(output, RelaySettings(), AT_TWO) == [
        f"{REBOOT_SCRIPT} is not the kit's script that skips a night while apt, dpkg or a deploy is at work",
        "exitkit-reboot.timer is disabled and inactive, not enabled and active",
        "exitkit-reboot.timer elapses at ['*-*-* 05:00:00 UTC'], not at *-*-* 02:00:00 Europe/Berlin",
    ]
    leftover = reboot_output(KIT_SCRIPT, ("loaded", "enabled", "active"), (AT_TWO.on_calendar,))
    assert reboot_findings(leftover, RelaySettings(reboot="never"), AT_TWO) == [
        "exitkit-reboot.timer exists although this relay has no scheduled reboot"]
    with pytest.raises(ValueError, match="reboot_check_command"):
        reboot_findings("", RelaySettings(), AT_TWO)
