"""Tests of exitkit.schedule: the fleet's reboot times and the log purge guard.

The property tests check the schedule against an independent model: UTC times
computed with zoneinfo, a minute-by-minute count of rebooting relays, and (when
the module gives up) a bipartite matching of relays to grid slots showing that
no alignment of the grid fits the fleet.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from itertools import product
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exitkit.maintenance.purge import PROTECTED_PATHS, check_purge_dirs, purge_command
from exitkit.maintenance.schedule import (
    REFERENCE_DATE,
    RebootTime,
    RebootWindow,
    RelayToSchedule,
    ScheduleError,
    coming_night,
    format_schedule_table,
    most_at_once,
    parse_time_of_day,
    reboot_schedule,
)

DAY = 24 * 60
ZONES = ("UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York")


def relay(name, window="02:00-04:00", zone="Europe/Berlin", max_at_once=1, slot=15, group="exits", family=""):
    return RelayToSchedule(name, group, family, RebootWindow.parse(window), zone, max_at_once, slot)


def minute(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def utc_minute(local: time, zone: str, on: date = REFERENCE_DATE) -> int:
    """UTC minute of day of a local time, by zoneinfo (independent of the module's arithmetic)."""
    moment = datetime.combine(on, local, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return moment.hour * 60 + moment.minute


def window_length(window: RebootWindow) -> int:
    length = minute(window.end) - minute(window.start)
    return length if length > 0 else length + DAY


def fleet_grid(fleet):
    """The documented model: limit, slot length and slot count of the fleet."""
    at_once = min(r.max_at_once for r in fleet)
    longest = max(r.slot_minutes for r in fleet)
    slot = min(d for d in range(1, DAY + 1) if DAY % d == 0 and d >= longest)
    return at_once, slot, DAY // slot


def slot_starts(fleet, slot):
    """For each relay, the UTC minutes at which a slot wholly inside its window may start."""
    starts = []
    for r in fleet:
        start = utc_minute(r.window.start, r.timezone)
        starts.append([(start + lead) % DAY for lead in range(window_length(r.window) - slot + 1)])
    return starts


def grid_slot_sets(starts, anchor, slot):
    """For each relay, the grid slots (numbered from `anchor`) wholly inside its window."""
    return [{((m - anchor) % DAY) // slot for m in minutes if (m - anchor) % slot == 0} for minutes in starts]


def matching_exists(slot_sets, at_once) -> bool:
    """Can every relay get a slot of its set with at most `at_once` per slot? (Kuhn's augmenting paths.)"""
    if any(not s for s in slot_sets) or len(slot_sets) > at_once * len(set().union(*slot_sets)):
        return False
    holders: dict[int, list[int]] = {}

    def augment(relay_index, visited) -> bool:
        for s in sorted(slot_sets[relay_index]):
            if s in visited:
                continue
            visited.add(s)
            taken = holders.setdefault(s, [])
            if len(taken) < at_once:
                taken.append(relay_index)
                return True
            for other in list(taken):
                if augment(other, visited):
                    taken.remove(other)
                    taken.append(relay_index)
                    return True
        return False

    return all(augment(i, set()) for i in range(len(slot_sets)))


def fits_on_some_grid(fleet) -> bool:
    at_once, slot, _ = fleet_grid(fleet)
    starts = slot_starts(fleet, slot)
    return any(matching_exists(grid_slot_sets(starts, anchor, slot), at_once) for anchor in range(slot))


def assert_valid_schedule(fleet, schedule):
    """Every relay inside its window, and never more than the limit rebooting at one UTC minute."""
    at_once = min(r.max_at_once for r in fleet)
    assert sorted(schedule) == sorted(r.name for r in fleet)
    busy = [0] * DAY
    for r in fleet:
        reboot = schedule[r.name]
        assert reboot.name == r.name and reboot.timezone == r.timezone
        assert reboot.local_time.second == 0 and reboot.local_time.microsecond == 0
        into_window = (minute(reboot.local_time) - minute(r.window.start)) % DAY
        assert into_window + r.slot_minutes <= window_length(r.window), (r, reboot)
        start = utc_minute(reboot.local_time, r.timezone)
        assert minute(reboot.utc_time) == start
        assert reboot.on_calendar == f"*-*-* {reboot.local_time:%H:%M}:00 {r.timezone}"
        for m in range(start, start + r.slot_minutes):
            busy[m % DAY] += 1
    assert max(busy) <= at_once


# --- parsing


@pytest.mark.parametrize("text, expected", [("00:00", time(0, 0)), ("23:59", time(23, 59)), (" 02:05 ", time(2, 5))])
def test_parse_time_of_day(text, expected):
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("text",
                         ["24:00", "2:00", "02:60", "0200", "02:00:00", "", "ab:cd", "\u0660\u0662:00", "02:00 am",
                          None, 120])
def test_parse_time_of_day_refuses_with_the_expectation(text):
    with pytest.raises(ValueError) as error:
        parse_time_of_day(text)
    assert str(error.value) == "expected a time of day as HH:MM, 00:00 to 23:59"


def test_window_parses_and_counts_minutes():
    window = RebootWindow.parse("02:00-04:00")
    assert (window.start, window.end, window.minutes, str(window)) == (time(2), time(4), 120, "02:00-04:00")


def test_window_wraps_past_midnight():
    window = RebootWindow.parse("23:30-01:30")
    assert window.minutes == 120
    assert RebootWindow.parse("23:59-00:00").minutes == 1
    assert RebootWindow.parse("00:01-00:00").minutes == DAY - 1


@pytest.mark.parametrize("text", ["02:00", "02:00-02:00", "02:00-24:00", "02:00_04:00", "", "02:00-04:00-05:00", None])
def test_window_refuses_with_the_expectation(text):
    with pytest.raises(ValueError) as error:
        RebootWindow.parse(text)
    assert str(error.value) == "expected a window as HH:MM-HH:MM, such as 02:00-04:00"


def test_window_refuses_equal_start_and_end_when_built_directly():
    with pytest.raises(ValueError, match="expected a window as HH:MM-HH:MM"):
        RebootWindow(time(2), time(2))


@pytest.mark.parametrize("zone",
                         ["Mars/Olympus", "", "Europe/Berlin ", "../etc/passwd", "/usr/share/zoneinfo/UTC", None])
def test_relay_refuses_unknown_time_zones(zone):
    with pytest.raises(ValueError) as error:
        relay("a", zone=zone)
    assert str(error.value) == "expected an IANA time zone such as Europe/Berlin or UTC"


@pytest.mark.parametrize("field, value",
                         [("max_at_once", 0), ("max_at_once", True), ("slot", 0), ("slot", 721), ("slot", 15.0)])
def test_relay_refuses_bad_limits(field, value):
    with pytest.raises(ValueError, match="expected reboot_"):
        relay("a", **{field: value})


# --- the schedule


def test_three_relays_spread_over_the_window():
    schedule = reboot_schedule([relay("a"), relay("b"), relay("c")])
    times = sorted(minute(t.local_time) for t in schedule.values())
    assert len(set(times)) == 3
    assert all(minute(time(2)) <= t <= minute(time(3, 45)) for t in times)
    assert not all(t < minute(time(2, 30)) for t in times)
    assert times[-1] - times[0] >= 60


def test_relays_of_one_family_reboot_at_different_times():
    fleet = [relay(name, window="02:00-02:30", max_at_once=2, family=family) for name, family in
             [("a1", "alpha"), ("a2", "alpha"), ("b1", "beta"), ("b2", "beta")]]
    schedule = reboot_schedule(fleet)
    assert schedule["a1"].local_time != schedule["a2"].local_time
    assert schedule["b1"].local_time != schedule["b2"].local_time


def test_relays_of_one_group_reboot_at_different_times():
    fleet = [relay(name, window="02:00-02:45", max_at_once=3, group=group) for name, group in
             [("x1", "hetzner"), ("x2", "hetzner"), ("x3", "hetzner"), ("y1", "ovh"), ("y2", "ovh"), ("y3", "ovh")]]
    schedule = reboot_schedule(fleet)
    assert len({schedule[n].local_time for n in ("x1", "x2", "x3")}) == 3
    assert len({schedule[n].local_time for n in ("y1", "y2", "y3")}) == 3


def test_schedule_is_the_same_for_any_order():
    fleet = [relay(f"r{i:02d}", zone=ZONES[i % 4], window=["02:00-04:00", "01:00-05:00", "23:30-01:30"][i % 3],
                   group=f"g{i % 3}", family=f"f{i % 2}" if i % 5 else "", max_at_once=2) for i in range(20)]
    schedule = reboot_schedule(fleet)
    assert_valid_schedule(fleet, schedule)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = fleet[:]
        rng.shuffle(shuffled)
        assert reboot_schedule(shuffled) == schedule


def test_on_calendar_names_local_time_and_zone():
    schedule = reboot_schedule([relay("a"), relay("b", zone="UTC", window="05:00-06:00")])
    assert schedule["a"].on_calendar == "*-*-* 02:00:00 Europe/Berlin"
    assert schedule["b"].on_calendar == "*-*-* 05:00:00 UTC"
    assert schedule["a"] == RebootTime("a", time(2), "Europe/Berlin", time(1))


def test_window_past_midnight_is_filled_on_both_sides():
    fleet = [relay(f"r{i}", window="23:30-01:30") for i in range(8)]
    schedule = reboot_schedule(fleet)
    assert_valid_schedule(fleet, schedule)
    times = {schedule[r.name].local_time for r in fleet}
    assert times == {time(23, 30),
                     time(23, 45)} | {time(h, m) for h in (0, 1) for m in (0, 15, 30, 45)} - {time(1, 30), time(1, 45)}


def test_half_hour_time_zone():
    fleet = [relay(f"r{i}", zone="Asia/Kolkata") for i in range(8)] + [relay("u", zone="UTC", window="20:00-20:45")]
    schedule = reboot_schedule(fleet)
    assert_valid_schedule(fleet, schedule)


def test_too_small_window_names_the_numbers():
    fleet = [relay(f"r{i:02d}", window="02:00-02:30") for i in range(12)]
    with pytest.raises(ScheduleError) as error:
        reboot_schedule(fleet)
    assert str(error.value) == (
        "12 relays cannot all reboot between 02:00 and 02:30 with at most 1 at once and 15 minutes each: "
        "the window holds 2. Widen reboot_window, raise reboot_max_at_once, or shorten reboot_slot_minutes."
    )
    assert isinstance(error.value, ValueError)


def test_window_shorter_than_a_slot():
    with pytest.raises(ScheduleError,
                       match="a cannot reboot between 02:00 and 02:10: the window is shorter than the 15 minutes"):
        reboot_schedule([relay("a", window="02:00-02:10")])


def test_the_smallest_max_at_once_is_the_fleet_limit():
    fleet = [relay("a", max_at_once=3, window="02:00-02:15"), relay("b", max_at_once=1, window="02:00-02:15")]
    with pytest.raises(ScheduleError, match=r"at most 1 at once \(the smallest reboot_max_at_once of the fleet\)"):
        reboot_schedule(fleet)
    assert_valid_schedule(fleet[:1] + [relay("b", max_at_once=3, window="02:00-02:15")],
                          reboot_schedule(fleet[:1] + [relay("b", max_at_once=3, window="02:00-02:15")]))


def test_slot_is_rounded_up_to_divide_the_day():
    assert_valid_schedule(fleet := [relay(f"r{i}", slot=24) for i in range(5)], reboot_schedule(fleet))
    with pytest.raises(ScheduleError, match=r"30 minutes \(reboot_slot_minutes 25, rounded up to divide the day\)"):
        reboot_schedule([relay(f"r{i}", slot=25) for i in range(5)])


def test_overlapping_windows_in_different_zones_name_utc():
    fleet = [relay(f"b{i}") for i in range(7)] + [relay(f"u{i}", zone="UTC") for i in range(7)]
    with pytest.raises(ScheduleError) as error:
        reboot_schedule(fleet)
    assert str(error.value).startswith(
        "14 relays (b0, b1, b2, b3, b4 and 9 more) cannot all reboot between 01:00 and 04:00 UTC "
        "with at most 1 at once and 15 minutes each: their windows together hold 12 there.")
    assert_valid_schedule(fleet[:12], reboot_schedule(fleet[:12]))


def test_duplicate_names_and_empty_fleet():
    assert reboot_schedule([]) == {}
    with pytest.raises(ValueError, match="expected unique relay names; a appears twice"):
        reboot_schedule([relay("a"), relay("a")])


def test_table_lists_reboots_in_utc_order():
    fleet = [relay("tokyo", zone="Asia/Tokyo", group="jp"), relay("berlin", family="fam")]
    table = format_schedule_table(reboot_schedule(fleet), fleet, on=REFERENCE_DATE)
    lines = table.splitlines()
    assert lines[0].split() == ["relay", "group", "family", "local", "time", "time", "zone", "UTC", "time"]
    assert lines[1].split() == ["berlin", "exits", "fam", "02:00", "Europe/Berlin", "01:00"]
    assert lines[2].split() == ["tokyo", "jp", "-", "02:00", "Asia/Tokyo", "17:00"]
    assert "night of 15 January 2025" in lines[3]
    with pytest.raises(ValueError, match="expected the relays the schedule was made from"):
        format_schedule_table(reboot_schedule(fleet), fleet[:1])


def test_table_gives_utc_times_of_the_night_it_names():
    fleet = [relay("berlin")]
    summer = format_schedule_table(reboot_schedule(fleet), fleet, on=date(2026, 7, 1)).splitlines()
    assert summer[1].split()[-1] == "00:00" and "night of 01 July 2026" in summer[2]


def test_the_coming_night_is_today_before_noon_and_tomorrow_after():
    assert coming_night(datetime(2026, 11, 30, 4, 0, tzinfo=UTC)) == date(2026, 11, 30)
    assert coming_night(datetime(2026, 11, 30, 18, 0, tzinfo=UTC)) == date(2026, 12, 1)


def test_zones_with_different_summer_time_drift_apart():
    """The documented limit of one reference date: UTC and Berlin meet in summer."""
    fleet = [relay("berlin"), relay("utc", zone="UTC", window="00:00-01:00")]
    schedule = {"berlin": RebootTime("berlin", time(2), "Europe/Berlin", time(1)),
                "utc": RebootTime("utc", time(0), "UTC", time(0))}
    assert most_at_once(schedule, fleet) == 1
    assert most_at_once(schedule, fleet, date(2025, 7, 15)) == 2


# --- property tests of the schedule


@st.composite
def fleets(draw, most=40, longest_window=480):
    windows = draw(st.lists(st.tuples(st.integers(0, DAY - 1), st.integers(1, longest_window)), min_size=1, max_size=4))
    slots = draw(st.lists(st.integers(5, 30), min_size=1, max_size=2))
    least_at_once = draw(st.integers(1, 4))
    fleet = []
    for i in range(draw(st.integers(1, most))):
        start, length = draw(st.sampled_from(windows))
        window = RebootWindow(time(start // 60, start % 60), time((start + length) % DAY // 60, (start + length) % 60))
        fleet.append(RelayToSchedule(
            f"relay{i:02d}",
            draw(st.sampled_from(["a", "b", "c"])),
            draw(st.sampled_from(["", "f1", "f2"])),
            window,
            draw(st.sampled_from(ZONES)),
            draw(st.integers(least_at_once, 4)),
            draw(st.sampled_from(slots)),
        ))
    return fleet


@settings(max_examples=200, deadline=None)
@given(fleets(), st.randoms(use_true_random=False))
def test_schedule_fits_every_window_and_the_limit_or_the_fleet_cannot_fit(fleet, rng):
    try:
        schedule = reboot_schedule(fleet)
    except ScheduleError:
        assert not fits_on_some_grid(fleet)
        return
    assert_valid_schedule(fleet, schedule)
    shuffled = fleet[:]
    rng.shuffle(shuffled)
    assert reboot_schedule(shuffled) == schedule


@settings(max_examples=100, deadline=None)
@given(fleets(most=4, longest_window=60))
def test_small_fleets_agree_with_trying_every_assignment(fleet):
    at_once, slot, _ = fleet_grid(fleet)
    starts = slot_starts(fleet, slot)

    def some_assignment_fits() -> bool:
        for anchor in range(slot):
            for choice in product(*(sorted(s) for s in grid_slot_sets(starts, anchor, slot))):
                if all(choice.count(s) <= at_once for s in choice):
                    return True
        return False

    try:
        reboot_schedule(fleet)
    except ScheduleError:
        assert not some_assignment_fits()
    else:
        assert some_assignment_fits()


# --- the log purge


MUST_PROTECT = ("/var/lib/tor", "/var/lib/tor-instances", "/etc", "/etc/tor", "/etc/exitkit", "/var/lib/exitkit",
                "/etc/ssh", "/root", "/boot", "/usr", "/bin", "/sbin", "/lib", "/var/lib")


def test_protected_paths_include_the_keys_config_and_system():
    assert set(MUST_PROTECT) <= set(PROTECTED_PATHS)


@pytest.mark.parametrize("path", ["/", "/var", "/var/lib/tor", "/var/lib/tor/keys", "/etc/exitkit",
                                  "/var/lib/../lib/tor", "var/log/lighttpd", "./log", "/var/lib/tor-instances/second",
                                  "/etc", "/etc/tor/torrc.d", "/var/lib", "/root/.ssh", "/home/operator",
                                  "/usr/local/log", "", "//", "/var/log/\n"])
def test_purge_refuses_dirs_near_keys_and_configuration(path):
    with pytest.raises(ValueError, match="^expected log directories outside the relay's keys and configuration; "):
        check_purge_dirs([path])


@pytest.mark.parametrize("path, why", [
    ("/var/lib/tor", "/var/lib/tor holds the relay keys"),
    ("/var/lib/tor/keys", "/var/lib/tor/keys lies inside /var/lib/tor, which holds the relay keys"),
    ("/var/", "/var contains /var/lib/tor, which holds the relay keys"),
    ("/etc/exitkit/", "/etc/exitkit holds exitkit's configuration"),
    ("/var/lib/../lib/tor", "/var/lib/../lib/tor contains '..'"),
    ("var/log", "'var/log' is relative"),
])
def test_purge_refusals_name_the_path_and_why(path, why):
    with pytest.raises(ValueError) as error:
        check_purge_dirs(["/var/log/apt", path])
    assert str(error.value).startswith(f"expected log directories outside the relay's keys and configuration; {why}")


def test_purge_accepts_and_normalises_log_dirs():
    assert check_purge_dirs(["/var/log/lighttpd"]) == ("/var/log/lighttpd",)
    assert check_purge_dirs(["/var/log/lighttpd/", "/var//log/./apt", "/var/log/lighttpd", "/var/log/exitkit",
                             "/var/log/unattended-upgrades", "/var/lib-logs", "/etcetera"]) == (
        "/var/log/lighttpd", "/var/log/apt", "/var/log/exitkit", "/var/log/unattended-upgrades", "/var/lib-logs",
        "/etcetera")


def test_purge_refuses_no_dirs_and_a_lone_string():
    with pytest.raises(ValueError, match="at least one"):
        check_purge_dirs([])
    with pytest.raises(ValueError, match="single string"):
        check_purge_dirs("/var/log/apt")


def test_purge_command_shape():
    assert purge_command(["/var/log/lighttpd", "/srv-logs/nym/"], 24) == [
        "/usr/local/sbin/exitkit-purge", str((719 + 1) * 60), "/var/log", "/srv-logs/nym"]
    assert purge_command([], 1) == ["/usr/local/sbin/exitkit-purge", str(30 * 60), "/var/log"]
    assert purge_command([], 8760)[1] == str((8760 * 30 - 1 + 1) * 60)


@pytest.mark.parametrize("hours", [0, 8761, -1, True, 1.5, "24"])
def test_purge_command_refuses_bad_lifetimes(hours):
    with pytest.raises(ValueError, match="expected a log lifetime"):
        purge_command(["/var/log/apt"], hours)


def test_purge_command_checks_the_dirs():
    with pytest.raises(ValueError, match="/var contains /var/lib/tor"):
        purge_command(["/var/log/apt", "/var"], 24)
    with pytest.raises(ValueError, match="single string"):
        purge_command("/var/log/apt", 24)  # type: ignore[arg-type]


PATH_PARTS = ["", ".", "..", "var", "lib", "tor", "tor-instances", "log", "lighttpd", "etc", "exitkit", "ssh", "root",
              "home", "usr", "tmp", "boot", "apt", "srv", "www", "lib64", "opt"]


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.builds(lambda parts, absolute: ("/" if absolute else "") + "/".join(parts),
              st.lists(st.sampled_from(PATH_PARTS), max_size=5), st.booleans()),
    st.text(alphabet="/.evarltoigcb", max_size=20),
))
def test_accepted_purge_dirs_neither_are_contain_nor_lie_inside_protected_paths(path):
    parts = PurePosixPath(path).parts if path else ()
    under_var_log = path.startswith("/") and [p for p in path.split("/") if p not in ("", ".")][:2] == ["var", "log"]
    try:
        (accepted,) = check_purge_dirs([path])
    except ValueError:
        assert not (under_var_log and ".." not in parts), f"refused a log dir: {path!r}"
        return
    accepted_path = PurePosixPath(accepted)
    assert accepted_path.is_absolute() and ".." not in accepted_path.parts and str(accepted_path) == accepted
    for protected in set(PROTECTED_PATHS) | set(MUST_PROTECT):
        protected_path = PurePosixPath(protected)
        assert accepted_path != protected_path
        assert protected_path not in accepted_path.parents
        assert accepted_path not in protected_path.parents


def test_a_fleet_larger_than_a_day_holds():
    fleet = [relay(f"r{i}", zone="UTC", window=w, slot=120) for i, w in enumerate(["00:00-12:00", "12:00-00:00"] * 7)]
    with pytest.raises(ScheduleError, match="^14 relays cannot all reboot in one day with at most 1 at once "
                                            "and 120 minutes each: a day holds 12"):
        reboot_schedule(fleet)


def test_windows_off_the_grid_of_the_others():
    fleet = [relay("a", zone="UTC", window="02:00-02:15"), relay("b", zone="UTC", window="02:05-02:20")]
    with pytest.raises(ScheduleError,
                       match=r"^[ab] cannot reboot between 02:[01][05] and 02:[12][05] \(UTC\): no 15-minute slot"):
        reboot_schedule(fleet)
