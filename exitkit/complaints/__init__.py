"""The abuse desk: one complaint, read and judged against the fleet and its history.

- ``message``: the complaint as text (mail with MIME parts and charsets, X-ARF, attached originals, plain text);
  ``Unreadable`` when it cannot be read;
- ``times``: the times it gives, in UTC, ambiguous ones marked;
- ``facts``: addresses, incident time, destination and kind (``KIND_RULES``, readable);
- ``judge``: which relay, in service then or not, and what the policy then said about the destination;
- ``report``: text and JSON.

Pure logic: the caller reads the file, the fleet, the history and the kept policies.
"""

from exitkit.complaints.facts import KIND_RULES, KINDS, Facts, find_facts
from exitkit.complaints.judge import FleetRelay, Verdict, judge
from exitkit.complaints.message import MAX_BYTES, Complaint, Unreadable, read_complaint
from exitkit.complaints.report import as_dict, to_json, to_text

__all__ = ["KINDS", "KIND_RULES", "MAX_BYTES", "Complaint", "Facts", "FleetRelay", "Unreadable", "Verdict",
           "as_dict", "find_facts", "judge", "read_complaint", "to_json", "to_text"]
