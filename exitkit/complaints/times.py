"""Times as complaints write them, turned into UTC; a time without a zone is shown as ambiguous, never guessed.

Formats read: ISO 8601 (``2026-11-27T07:37:12Z``, ``2026-11-27 07:37:12 +01:00``), RFC 5322 mail dates
(``Fri, 27 Nov 2026 07:37:12 +0100``), English dates (``Nov 27, 2026 7:37:12 AM EST``, ``27 November 2026
07:37 UTC``), US slashes (``11/27/2026 07:37:12 PM``), German (``27.11.2026, 07:37:12 Uhr MEZ``) and Japanese
(``2026年11月27日 07時37分``, ``2026/11/27 07:37:12 JST``). Zones: offsets, ``UTC+1``, and the abbreviations below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

# abbreviations complaints use, and what they mean; ambiguous ones (IST, CST in Asia) are left out on purpose
ZONES = {"UTC": 0, "UT": 0, "GMT": 0, "Z": 0, "WET": 0, "BST": 60, "CET": 60, "MEZ": 60, "CEST": 120, "MESZ": 120,
         "EET": 120, "EEST": 180, "MSK": 180, "JST": 540, "KST": 540, "AEST": 600, "AEDT": 660,
         "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420}
MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec"), 1)}
MONTHS.update({"mär": 3, "mrz": 3, "mai": 5, "okt": 10, "dez": 12})

_ZONE = (r"(?P<zone>Z|(?:UTC|GMT)\s?[+-]\s?\d{1,2}(?::?\d{2})?|[+-]\d{2}:?\d{2}|\(?(?:"
         + "|".join(sorted(ZONES, key=len, reverse=True)) + r")\)?)")
_CLOCK = r"(?P<h>\d{1,2})[:時](?P<mi>\d{2})(?:[:分](?P<s>\d{2})(?:\.\d+)?秒?)?分?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?"
_AFTER = r"(?:\s*(?:Uhr|h))?\s*" + _ZONE + r"?(?![\w])"
_PATTERNS = [
    ("iso", re.compile(r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})(?:T|\s+|\s*,\s*)" + _CLOCK + _AFTER)),
    ("ja", re.compile(r"(?P<y>\d{4})年\s*(?P<mo>\d{1,2})月\s*(?P<d>\d{1,2})日\s*(?:[(（][月火水木金土日][)）])?\s*"
                      + _CLOCK + _AFTER)),
    ("ymd", re.compile(r"(?P<y>\d{4})/(?P<mo>\d{1,2})/(?P<d>\d{1,2})\s+" + _CLOCK + _AFTER)),
    ("de", re.compile(r"(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4}),?\s*(?:um\s+)?" + _CLOCK + _AFTER)),
    ("mdy", re.compile(r"(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}),?\s+(?:at\s+)?" + _CLOCK + _AFTER)),
    ("dmy-name", re.compile(r"(?P<d>\d{1,2})\.?\s+(?P<mname>[A-Za-zä]{3,9})\.?\s+(?P<y>\d{4}),?\s+(?:at\s+|um\s+)?"
                            + _CLOCK + _AFTER)),
    ("mdy-name", re.compile(r"(?P<mname>[A-Za-z]{3,9})\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4}),?\s+(?:at\s+)?"
                            + _CLOCK + _AFTER)),
]


@dataclass(frozen=True)
class FoundTime:
    """A time found in a complaint: its words, the moment in UTC, and what makes it uncertain."""

    text: str
    utc: datetime
    zone: str          # the zone as written, "" when none was
    ambiguous: str     # why the moment is not certain ("" when it is)
    source: str        # where it was found

    def shown(self) -> str:
        moment = f"{self.utc:%Y-%m-%d %H:%M:%S} UTC"
        return f"{moment} (AMBIGUOUS: {self.ambiguous})" if self.ambiguous else moment


def find_times(text: str, source: str) -> list[FoundTime]:
    """Every time in ``text``, in the order written, each once."""
    found: dict[tuple[int, int], FoundTime] = {}
    for _, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if any(a <= match.start() < b for a, b in found):
                continue    # already read by a more specific pattern
            moment = _moment(match, source)
            if moment is not None:
                found[(match.start(), match.end())] = moment
    return [found[span] for span in sorted(found)]


def _moment(match: re.Match, source: str) -> FoundTime | None:
    parts = match.groupdict()
    month = int(parts["mo"]) if parts.get("mo") else MONTHS.get((parts.get("mname") or "")[:3].lower())
    if not month:
        return None
    day, year, hour, minute = int(parts["d"]), int(parts["y"]), int(parts["h"]), int(parts["mi"])
    second = int(parts["s"] or 0)
    notes = []
    ampm = (parts.get("ampm") or "").replace(".", "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if "/" in match.group(0) and parts.get("mo") and not match.group(0).startswith(parts["y"]):
        if month > 12 >= day:
            month, day = day, month   # 27/11/2026: only day/month makes sense
        elif day <= 12 and month <= 12 and day != month:
            notes.append(f"day and month could be either way round (read as month {month}, day {day})")
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    zone_text = (parts.get("zone") or "").strip("()")
    offset = zone_offset(zone_text)
    if offset is None:
        notes.insert(0, "no time zone given, read as UTC")
        offset = timedelta(0)
    utc = local.replace(tzinfo=timezone(offset)).astimezone(UTC)
    return FoundTime(" ".join(match.group(0).split()), utc, zone_text, "; ".join(notes), source)


def zone_offset(text: str) -> timedelta | None:
    """The offset a zone as written means, or None for no (or an unknown) zone."""
    if not text:
        return None
    if text.upper() in ZONES:
        return timedelta(minutes=ZONES[text.upper()])
    match = re.fullmatch(r"(?:UTC|GMT)?\s?([+-])\s?(\d{1,2}):?(\d{2})?", text, re.IGNORECASE)
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))


def received_time(line: str, source: str) -> FoundTime | None:
    """The time a Received line was stamped (after its ';', an RFC 5322 date)."""
    from email.utils import parsedate_to_datetime

    _, _, stamp = line.rpartition(";")
    try:
        moment = parsedate_to_datetime(stamp.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return FoundTime(stamp.strip(), moment.replace(tzinfo=UTC), "", "no time zone given, read as UTC", source)
    return FoundTime(stamp.strip(), moment.astimezone(UTC), stamp.strip().split()[-1], "", source)
