"""The fleet's nightly reboot schedule.

Exit relays reboot every night so that nothing survives in memory, and their
logs are purged after a few hours. Across a fleet the nightly reboot must never
take all exit capacity down at once, so reboot times are planned for the whole
fleet here. Pure logic: no host is contacted and nothing is read or written.

How times are chosen (the model the tests check):

* The fleet counts every reboot for the same slot length: the longest
  ``slot_minutes`` of the fleet, rounded up to a divisor of 24 hours so that
  slots tile the day. Counting longer than a relay needs is on the safe side.
* The limit is fleet-wide: the smallest ``max_at_once`` of the fleet.
* Reboot times fall on one grid of such slots in UTC. Slots never overlap, so
  "at most N per slot" is "at most N rebooting at any minute", with no
  rounding. A relay may use the slots that lie wholly inside its own window.
  The grid is aligned to the windows where it can be (a window that does not
  line up with it loses at most one slot).
* UTC is taken on ``REFERENCE_DATE`` (15 January 2025). On the nights clocks
  change, a relay's time shifts by an hour. Relays in zones whose daylight
  saving rules differ (Europe/Berlin and UTC, or Europe/Berlin and
  America/New_York) also move an hour against each other for part of the year,
  and the limit is only sure on dates with the reference date's offsets;
  ``most_at_once`` tells the peak for any date. Keep a fleet in one zone (or
  all in UTC) for a limit that holds all year.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTES_PER_DAY = 24 * 60
REFERENCE_DATE = date(2025, 1, 15)
"""The date on which local times are turned into UTC: northern winter, far from any clock change."""

TIME_OF_DAY_EXPECTED = "expected a time of day as HH:MM, 00:00 to 23:59"
WINDOW_EXPECTED = "expected a window as HH:MM-HH:MM, such as 02:00-04:00"
TIMEZONE_EXPECTED = "expected an IANA time zone such as Europe/Berlin or UTC"
MAX_SLOT_MINUTES = 720

_TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_WINDOW = re.compile(r"\s*([0-9]{2}:[0-9]{2})\s*-\s*([0-9]{2}:[0-9]{2})\s*")
# Zone names go verbatim into systemd's OnCalendar=, so no spaces or other surprises.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
_DAY_DIVISORS = tuple(d for d in range(1, MINUTES_PER_DAY + 1) if MINUTES_PER_DAY % d == 0)


class ScheduleError(ValueError):
    """The fleet's reboots do not fit their windows under the at-once limit."""


# --- times and windows


def parse_time_of_day(text: str) -> time:
    """Parse "HH:MM" (24 hours); operators write times, not datetimes."""
    match = _TIME_OF_DAY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(TIME_OF_DAY_EXPECTED)
    return time(int(match[1]), int(match[2]))


def _minute_of_day(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _time_at(minute: int) -> time:
    minute %= MINUTES_PER_DAY
    return time(minute // 60, minute % 60)


@dataclass(frozen=True)
class RebootWindow:
    """Local times between which a relay may reboot; the end may be after midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if not isinstance(moment, time) or moment.second or moment.microsecond or moment.tzinfo is not None:
                raise ValueError(WINDOW_EXPECTED)
        if self.start == self.end:  # empty, or a whole day: either way not a window
            raise ValueError(WINDOW_EXPECTED)

    @classmethod
    def parse(cls, text: str) -> RebootWindow:
        """Parse "02:00-04:00"; "23:30-01:30" wraps past midnight."""
        match = _WINDOW.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(WINDOW_EXPECTED)
        try:
            return cls(parse_time_of_day(match[1]), parse_time_of_day(match[2]))
        except ValueError:
            raise ValueError(WINDOW_EXPECTED) from None

    @property
    def minutes(self) -> int:
        """Length of the window, counting across midnight."""
        return (_minute_of_day(self.end) - _minute_of_day(self.start)) % MINUTES_PER_DAY

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def is_whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_timezone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not _ZONE_NAME.fullmatch(name):
        raise ValueError(TIMEZONE_EXPECTED)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(TIMEZONE_EXPECTED) from None


@dataclass(frozen=True)
class RelayToSchedule:
    """What the schedule needs to know about one relay of the fleet."""

    name: str
    group: str  # the relay's main group; relays of one group are spread apart
    family: str  # "" if none; relays of one family are spread apart
    window: RebootWindow
    timezone: str  # IANA name, as systemd on the relay will read it
    max_at_once: int  # most relays of the fleet rebooting at the same moment
    slot_minutes: int = 15  # how long a reboot counts: the reboot plus tor's bootstrap

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("expected a relay name")
        if not isinstance(self.group, str) or not isinstance(self.family, str):
            raise ValueError("expected group and family as text ('' for none)")
        if not isinstance(self.window, RebootWindow):
            raise ValueError(WINDOW_EXPECTED)
        _check_timezone(self.timezone)
        if not is_whole_number(self.max_at_once) or self.max_at_once < 1:
            raise ValueError("expected reboot_max_at_once as a whole number of at least 1")
        if not is_whole_number(self.slot_minutes) or not 1 <= self.slot_minutes <= MAX_SLOT_MINUTES:
            raise ValueError(f"expected reboot_slot_minutes as a whole number from 1 to {MAX_SLOT_MINUTES}")


@dataclass(frozen=True)
class RebootTime:
    """When one relay reboots: a local time of day, as its systemd timer states it."""

    name: str
    local_time: time
    timezone: str
    utc_time: time  # on REFERENCE_DATE

    @property
    def on_calendar(self) -> str:
        """systemd OnCalendar= value; systemd 252 (Debian 12) takes the trailing zone."""
        return f"*-*-* {self.local_time:%H:%M}:00 {self.timezone}"


# --- the schedule


def fleet_slot_minutes(relays: list[RelayToSchedule]) -> int:
    """Minutes every reboot of the fleet counts for: the longest slot, rounded up to divide the day."""
    longest = max(relay.slot_minutes for relay in relays)
    return next(d for d in _DAY_DIVISORS if d >= longest)


def fleet_max_at_once(relays: list[RelayToSchedule]) -> int:
    """The fleet-wide limit: where relays disagree, the strictest one holds."""
    return min(relay.max_at_once for relay in relays)


def utc_offset_minutes(timezone: str, on: date = REFERENCE_DATE) -> int:
    """Local time minus UTC in minutes, at noon of the given date."""
    offset = datetime.combine(on, time(12), tzinfo=_check_timezone(timezone)).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


@dataclass(frozen=True)
class _UtcWindow:
    """A relay's window on the UTC clock of the reference date."""

    start: int  # UTC minute of day
    minutes: int
    offset: int  # local minus UTC


@dataclass(frozen=True)
class _Run:
    """The grid slots wholly inside one window: `count` slots from `first` on, wrapping."""

    first: int
    count: int


@dataclass(frozen=True)
class _Overfull:
    """A span of grid slots holding fewer seats than the relays confined to it."""

    first: int
    length: int  # 0: one relay that has no slot at all
    members: tuple[int, ...]  # indexes of the relays whose slots all lie in the span
    seats: int

    @property
    def excess(self) -> int:
        return len(self.members) - self.seats


def _run_of(window: _UtcWindow, anchor: int, slot: int, slot_count: int) -> _Run:
    delta = (window.start - anchor) % MINUTES_PER_DAY
    first = -(-delta // slot)  # first grid slot starting at or after the window's start
    lead = first * slot - delta
    return _Run(first % slot_count, max(0, (window.minutes - lead) // slot))


def _ranked_anchors(windows: list[_UtcWindow], slot: int, slot_count: int) -> list[tuple[int, list[_Run]]]:
    """Grid alignments, the ones giving relays the most slots (then matching window starts) first."""
    ranked = []
    for anchor in range(slot):
        runs = [_run_of(window, anchor, slot, slot_count) for window in windows]
        freedom = sum(run.count for run in runs)
        aligned = sum(1 for window in windows if (window.start - anchor) % slot == 0)
        ranked.append((-freedom, -aligned, anchor, runs))
    ranked.sort(key=lambda entry: entry[:3])
    return [(anchor, runs) for _, _, anchor, runs in ranked]


def _worst_overfull_span(runs: list[_Run], at_once: int, slot_count: int) -> _Overfull | None:
    """The span most over capacity, or None if every relay can have a slot.

    Hall's theorem for this bipartite matching: the relays fit iff no span of
    consecutive slots holds fewer seats than the relays confined to it; the
    spans worth checking start where some relay's slots start.
    """
    worst: _Overfull | None = None

    def consider(span: _Overfull) -> None:
        nonlocal worst
        if span.excess > 0 and (
            worst is None or (-span.excess, span.length, span.first) < (-worst.excess, worst.length, worst.first)
        ):
            worst = span

    for index, run in enumerate(runs):
        if run.count == 0:
            consider(_Overfull(run.first, 0, (index,), 0))
    placeable = [index for index, run in enumerate(runs) if run.count]
    consider(_Overfull(0, slot_count, tuple(placeable), at_once * slot_count))
    for start in sorted({runs[index].first for index in placeable}):
        reach = sorted(((runs[index].first - start) % slot_count + runs[index].count, index) for index in placeable)
        members: list[int] = []
        for position, (length, index) in enumerate(reach):
            if length > slot_count:
                break
            members.append(index)
            if position + 1 < len(reach) and reach[position + 1][0] == length:
                continue
            consider(_Overfull(start, length, tuple(sorted(members)), at_once * length))
    return worst


def _family_key(relay: RelayToSchedule) -> str:
    return relay.family if relay.family else "\0" + relay.name  # no family: a family of one


def _group_key(relay: RelayToSchedule) -> str:
    return relay.group if relay.group else "\0" + relay.name


def _interleaved(members: list[int], relays: list[RelayToSchedule]) -> list[int]:
    """Order relays so neighbours differ in family and group, and big families spread out."""
    remaining = list(members)
    families = Counter(_family_key(relays[index]) for index in members)
    groups = Counter(_group_key(relays[index]) for index in members)
    ordered: list[int] = []
    while remaining:
        previous = relays[ordered[-1]] if ordered else None

        def preference(position: int, previous: RelayToSchedule | None = previous) -> tuple:
            # previous bound here: min() below calls this within the same pass of the loop
            relay = relays[remaining[position]]
            return (
                previous is not None and _family_key(relay) == _family_key(previous),
                previous is not None and _group_key(relay) == _group_key(previous),
                -families[_family_key(relay)],
                -groups[_group_key(relay)],
                position,
            )

        index = remaining.pop(min(range(len(remaining)), key=preference))
        families[_family_key(relays[index])] -= 1
        groups[_group_key(relays[index])] -= 1
        ordered.append(index)
    return ordered


def _assign_slots(relays: list[RelayToSchedule], runs: list[_Run], at_once: int, slot_count: int) -> list[int]:
    """Give each relay a slot of its run: spread over the window, families and groups apart.

    Greedy placement first (most constrained relays first, each near its ideal
    evenly spread position, away from slots that later relays need), then
    augmenting paths for any relay left over, which always succeed when
    `_worst_overfull_span` found nothing.
    """
    classes: dict[_Run, list[int]] = {}
    for index, run in enumerate(runs):
        classes.setdefault(run, []).append(index)
    ideal: dict[int, int] = {}  # offset into the relay's run
    order: list[int] = []
    for run in sorted(classes, key=lambda run: (run.count, run.first)):
        members = _interleaved(classes[run], relays)
        for position, index in enumerate(members):
            ideal[index] = position * run.count // len(members)
            order.append(index)

    occupants: dict[int, list[int]] = {}
    slot_of: dict[int, int] = {}

    def offsets_by_closeness(index: int) -> list[int]:
        return sorted(range(runs[index].count), key=lambda offset: (abs(offset - ideal[index]), offset))

    def clashes(index: int, slot: int, key) -> int:
        return sum(1 for other in occupants.get(slot % slot_count, ()) if key(relays[other]) == key(relays[index]))

    def place(index: int, slot: int) -> None:
        if index in slot_of:
            occupants[slot_of[index]].remove(index)
        slot_of[index] = slot
        occupants.setdefault(slot, []).append(index)

    wanted = Counter((run.first + offset) % slot_count for run in runs for offset in range(run.count))
    for index in order:
        for offset in range(runs[index].count):
            wanted[(runs[index].first + offset) % slot_count] -= 1
        best: tuple | None = None
        for offset in offsets_by_closeness(index):
            slot = (runs[index].first + offset) % slot_count
            load = len(occupants.get(slot, ()))
            if load >= at_once:
                continue
            score = (
                clashes(index, slot, _family_key),
                clashes(index, slot, _group_key),
                load,
                wanted[slot],  # leave slots that relays still to come can use to them
                clashes(index, slot - 1, _family_key) + clashes(index, slot + 1, _family_key),
                clashes(index, slot - 1, _group_key) + clashes(index, slot + 1, _group_key),
                abs(offset - ideal[index]),
                offset,
            )
            if best is None or score < best[0]:
                best = (score, slot)
        if best is not None:
            place(index, best[1])

    for index in order:
        if index in slot_of:
            continue
        # Breadth-first search for a chain of relays that each move to another of their slots.
        came_from: dict[int, int] = {}  # slot -> relay that would move into it
        queue, seen = deque([index]), {index}
        found = None
        while queue and found is None:
            mover = queue.popleft()
            for offset in offsets_by_closeness(mover):
                slot = (runs[mover].first + offset) % slot_count
                if slot in came_from:
                    continue
                came_from[slot] = mover
                if len(occupants.get(slot, ())) < at_once:
                    found = slot
                    break
                for other in sorted(occupants[slot]):
                    if other not in seen:
                        seen.add(other)
                        queue.append(other)
        if found is None:
            raise RuntimeError(f"no slot found for {relays[index].name} although the fleet fits; this is a bug")
        slot = found
        while True:
            mover = came_from[slot]
            left = slot_of.get(mover)
            place(mover, slot)
            if mover == index:
                break
            assert left is not None
            slot = left
    return [slot_of[index] for index in range(len(relays))]


@dataclass(frozen=True)
class _Facts:
    """What error messages say about the fleet."""

    relays: list[RelayToSchedule]
    at_once: int
    slot: int

    def at_once_text(self) -> str:
        if len({relay.max_at_once for relay in self.relays}) > 1:
            return f"at most {self.at_once} at once (the smallest reboot_max_at_once of the fleet)"
        return f"at most {self.at_once} at once"

    def slot_text(self) -> str:
        longest = max(relay.slot_minutes for relay in self.relays)
        if longest != self.slot:
            return f"{self.slot} minutes (reboot_slot_minutes {longest}, rounded up to divide the day)"
        if len({relay.slot_minutes for relay in self.relays}) > 1:
            return f"{self.slot} minutes (the longest reboot_slot_minutes of the fleet)"
        return f"{self.slot} minutes"

    def overfull_message(self, anchor: int, overfull: _Overfull) -> str:
        members = [self.relays[index] for index in overfull.members]
        if overfull.length == 0:
            relay = members[0]
            return (
                f"{relay.name} cannot reboot between {relay.window.start:%H:%M} and {relay.window.end:%H:%M} "
                f"({relay.timezone}): no {self.slot}-minute slot of the fleet's grid, which lines up with the "
                "other relays' windows, fits inside it. Widen its reboot_window, or start it on the same "
                f"{self.slot}-minute steps as the other windows."
            )
        zones = {relay.timezone for relay in self.relays}
        if len({(relay.window, relay.timezone) for relay in members}) == 1:
            relay = members[0]
            zone = f" ({relay.timezone})" if len(zones) > 1 else ""
            return (
                f"{len(members)} relays cannot all reboot between {relay.window.start:%H:%M} and "
                f"{relay.window.end:%H:%M}{zone} with {self.at_once_text()} and {self.slot_text()} each: "
                f"the window holds {overfull.seats}. Widen reboot_window, raise reboot_max_at_once, "
                "or shorten reboot_slot_minutes."
            )
        if overfull.length * self.slot == MINUTES_PER_DAY:
            return (
                f"{len(members)} relays cannot all reboot in one day with {self.at_once_text()} and "
                f"{self.slot_text()} each: a day holds {overfull.seats}. Raise reboot_max_at_once "
                "or shorten reboot_slot_minutes."
            )
        start = anchor + overfull.first * self.slot
        end = start + overfull.length * self.slot
        names = ", ".join(relay.name for relay in members[:5])
        if len(members) > 5:
            names += f" and {len(members) - 5} more"
        return (
            f"{len(members)} relays ({names}) cannot all reboot between {_time_at(start):%H:%M} and "
            f"{_time_at(end):%H:%M} UTC with {self.at_once_text()} and {self.slot_text()} each: their "
            f"windows together hold {overfull.seats} there. Widen or move their reboot_window, raise "
            "reboot_max_at_once, or shorten reboot_slot_minutes."
        )


def reboot_schedule(relays: list[RelayToSchedule]) -> dict[str, RebootTime]:
    """Reboot times for the whole fleet, keyed by relay name.

    Every relay reboots inside its own window, and at no minute (in UTC on
    REFERENCE_DATE) are more relays rebooting than the smallest max_at_once of
    the fleet; each reboot counts for the fleet's slot (fleet_slot_minutes).
    Relays are spread over their windows, relays of one family or group in
    different slots where capacity allows. The result depends only on the set
    of relays, not on their order. Raises ScheduleError if they cannot fit.
    """
    if not relays:
        return {}
    ordered = sorted(relays, key=lambda relay: relay.name)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.name == after.name:
            raise ValueError(f"expected unique relay names; {after.name} appears twice")
    at_once = fleet_max_at_once(ordered)
    slot = fleet_slot_minutes(ordered)
    slot_count = MINUTES_PER_DAY // slot
    windows = []
    for relay in ordered:
        offset = utc_offset_minutes(relay.timezone)
        utc_start = (_minute_of_day(relay.window.start) - offset) % MINUTES_PER_DAY
        windows.append(_UtcWindow(utc_start, relay.window.minutes, offset))
    facts = _Facts(ordered, at_once, slot)

    for relay, window in zip(ordered, windows, strict=True):
        if window.minutes < slot:
            raise ScheduleError(
                f"{relay.name} cannot reboot between {relay.window.start:%H:%M} and {relay.window.end:%H:%M}: "
                f"the window is shorter than the {facts.slot_text()} a reboot counts for. "
                "Widen reboot_window or shorten reboot_slot_minutes."
            )

    failures: list[tuple[int, int, int, _Overfull]] = []
    for anchor, runs in _ranked_anchors(windows, slot, slot_count):
        overfull = _worst_overfull_span(runs, at_once, slot_count)
        if overfull is None:
            slots = _assign_slots(ordered, runs, at_once, slot_count)
            schedule = {}
            for relay, window, grid_slot in zip(ordered, windows, slots, strict=True):
                utc_minute = (anchor + grid_slot * slot) % MINUTES_PER_DAY
                schedule[relay.name] = RebootTime(
                    relay.name, _time_at(utc_minute + window.offset), relay.timezone, _time_at(utc_minute)
                )
            return schedule
        failures.append((overfull.excess, len(failures), anchor, overfull))
    _, _, anchor, overfull = min(failures)  # the alignment that came closest
    raise ScheduleError(facts.overfull_message(anchor, overfull))


def most_at_once(schedule: dict[str, RebootTime], relays: list[RelayToSchedule], on: date = REFERENCE_DATE) -> int:
    """The most relays rebooting in the same minute on a given night, each counted for its own slot."""
    by_name = {relay.name: relay for relay in relays}
    busy = [0] * MINUTES_PER_DAY
    for name, reboot in schedule.items():
        local = datetime.combine(on, reboot.local_time, tzinfo=ZoneInfo(reboot.timezone))
        utc = local.astimezone(UTC)
        start = utc.hour * 60 + utc.minute
        for minute in range(start, start + by_name[name].slot_minutes):
            busy[minute % MINUTES_PER_DAY] += 1
    return max(busy)


def coming_night(now: datetime | None = None) -> date:
    """The date of the night ahead: today before noon UTC, else tomorrow."""
    now = now or datetime.now(UTC)
    return now.date() if now.hour < 12 else now.date() + timedelta(days=1)


def utc_time_on(reboot: RebootTime, on: date) -> time:
    """The UTC time of a relay's reboot on a given night (clock changes included)."""
    local = datetime.combine(on, reboot.local_time, tzinfo=ZoneInfo(reboot.timezone))
    return local.astimezone(UTC).time()


def format_schedule_table(schedule: dict[str, RebootTime], relays: list[RelayToSchedule],
                          on: date | None = None) -> str:
    """The schedule as a plain-text table in the order the reboots happen, with UTC times of night ``on``
    (default: the coming night)."""
    on = on or coming_night()
    by_name = {relay.name: relay for relay in relays}
    header = ("relay", "group", "family", "local time", "time zone", "UTC time")
    rows = [header]
    for name, reboot in sorted(schedule.items(), key=lambda item: (utc_time_on(item[1], on), item[0])):
        relay = by_name.get(name)
        if relay is None:
            raise ValueError(f"expected the relays the schedule was made from; {name} is not among them")
        rows.append(
            (name, relay.group or "-", relay.family or "-", f"{reboot.local_time:%H:%M}", reboot.timezone,
             f"{utc_time_on(reboot, on):%H:%M}")
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(f"UTC times are for the night of {on:%d %B %Y}; where clocks change, they move by an hour "
                 "for part of the year.")
    return "\n".join(lines)
