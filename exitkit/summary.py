"""The fleet summary printed at the end of a run: one line per relay, readable at 3 a.m.

Pure text: what each relay's run came to (``RelayOutcome``) in, aligned lines
out. The pyinfra side (``deploys/summary.py``) fills the outcomes from the run's
state, so this module can be tested without a fleet.

    --> Fleet summary
      relay    net  nickname      address     policy        changes
      relay-1  tor  exitkittest1  192.0.2.21  425817944a28  7 changed: Exit policy ruleset, …
    ! relay-3  tor  exitkittest3  192.0.2.23  15c38ca966ae  SKIPPED
          unreachable: Could not connect ([Errno None] Unable to connect to port 2303 on 127.0.0.1)
      relay-2  nym  exitkittest2  192.0.2.22  00c28c90fd8a  no change
    Where the exit policy is enforced:
      relay-1, relay-3: tor's own exit policy is the only check of tor's exit connections (no
          outbound_bind_address_exit); nftables judges only traffic forwarded out of eth0
      relay-2: Nym's network requester checks its own connections by its own policy, nftables does not;
          nftables judges only traffic forwarded out of eth0
    3 relays: 1 changed, 1 unchanged, 1 skipped. NOT CONVERGED, run again for relay-3
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

WIDTH = 100          # the terminal width the summary is written for
GAP = "  "           # between columns
INDENT = "      "    # attention lines, under their relay
CONTINUED = INDENT + "  "  # an attention item's further lines
ITEM_LINES = 4       # an attention item wraps to at most this many lines (a CA's or apt's own words), then is cut
ELLIPSIS = "…"
HEADER = "--> Fleet summary"
# column caps: nicknames are at most 19 characters, IPv6 addresses at most 39
CAPS = {"network": 8, "nickname": 19, "address": 39, "policy_id": 12}
# control characters and everything str.splitlines() breaks at (NEL, line and paragraph separators)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass
class RelayOutcome:
    """What one relay's run came to; changed/failed hold operation names, failed as 'name: first error line'."""

    name: str
    network: str
    nickname: str
    address: str
    policy_id: str
    changed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped_reason: str | None = None  # set when the run never reached the relay
    notes: list[str] = field(default_factory=list)
    enforcement: str = ""  # where its exit policy holds (exitkit.policy.enforcement), one plain line
    not_run: list[str] = field(default_factory=list)  # operations the run stopped before (interrupted, failed)

    @property
    def needs_attention(self) -> bool:
        return self.skipped_reason is not None or bool(self.failed) or bool(self.notes) or bool(self.not_run)

    @property
    def converged(self) -> bool:
        """A relay is converged only if every operation planned for it ran and none failed."""
        return self.skipped_reason is None and not self.failed and not self.not_run


def one_line(text: str) -> str:
    """Control characters (newlines above all) would break the one-line-per-relay layout."""
    return _CONTROL.sub(" ", str(text)).strip()


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut shown by an ellipsis."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS if width > 0 else ""


def short_op_name(name: str) -> str:
    """The part of an operation's name worth reading at 3 a.m.

    'Exit policy in nftables | Exit policy ruleset, checked by nft -c first' -> 'Exit policy ruleset':
    the deploy prefix and the explanation after a comma or in parentheses go.
    """
    name = one_line(name).rsplit(" | ", 1)[-1]
    short = re.split(r",\s| \(", name, maxsplit=1)[0].strip()
    return short or name


def changes_text(outcome: RelayOutcome, width: int) -> str:
    """The changes column: 'no change', '3 changed: a, b, …', 'FAILED, 1 changed' or 'SKIPPED'."""
    if outcome.skipped_reason is not None:
        return "SKIPPED"
    names = list(dict.fromkeys(short_op_name(n) for n in outcome.changed))
    counted = f"{len(outcome.changed)} changed" if outcome.changed else "no change"
    if outcome.failed:
        counted = f"FAILED, {counted}"
    elif outcome.not_run:
        counted = f"NOT CONVERGED, {counted}"
    shown: list[str] = []
    for name in names:
        more = ", …" if len(shown) + 1 < len(names) else ""
        if len(f"{counted}: {', '.join([*shown, name])}{more}") > width:
            break
        shown.append(name)
    if not shown:
        return counted  # nothing fits after the count: the count alone is still true
    return f"{counted}: {', '.join(shown)}" + (", …" if len(shown) < len(names) else "")


def attention_lines(outcome: RelayOutcome) -> list[str]:
    """What the operator must look at for this relay, most urgent first."""
    lines = []
    if outcome.skipped_reason is not None:
        lines.append(f"unreachable: {one_line(outcome.skipped_reason) or 'no reason given'}")
    lines += [f"failed: {one_line(f)}" for f in outcome.failed]
    if outcome.not_run:
        names = ", ".join(dict.fromkeys(short_op_name(n) for n in outcome.not_run))
        lines.append(f"not run: {len(outcome.not_run)} operation{'s' if len(outcome.not_run) != 1 else ''}: {names}")
    lines += [f"note: {one_line(n)}" for n in dict.fromkeys(outcome.notes)]
    return [wrapped for line in lines for wrapped in wrap_item(line)]


def wrap_item(text: str) -> list[str]:
    """One attention item on up to ``ITEM_LINES`` lines of the summary's width, the rest cut with an ellipsis:
    an error's own words matter most at their end, and a long one must not bury the other relays."""
    lines = textwrap.wrap(text, WIDTH, initial_indent=INDENT, subsequent_indent=CONTINUED, break_on_hyphens=False)
    if len(lines) <= ITEM_LINES:
        return lines or [INDENT.rstrip()]
    rest = " ".join(line.strip() for line in lines[ITEM_LINES - 1:])
    return [*lines[: ITEM_LINES - 1], clip(CONTINUED + rest, WIDTH)]


def verdict(outcomes: Sequence[RelayOutcome], stopped_by: str | None = None) -> str:
    """The totals and one word on the fleet's state, as the last line (zero counts of trouble left out).

    ``stopped_by`` names the signal that stopped the run (SIGINT, SIGTERM): such a run never says Converged.
    """
    changed = sum(1 for o in outcomes if o.converged and o.changed)
    unchanged = sum(1 for o in outcomes if o.converged and not o.changed)
    skipped = [o.name for o in outcomes if o.skipped_reason is not None]
    failed = [o.name for o in outcomes if o.skipped_reason is None and o.failed]
    stopped = [o.name for o in outcomes if o.skipped_reason is None and not o.failed and o.not_run]
    notes = sum(len(dict.fromkeys(o.notes)) for o in outcomes)
    parts = [f"{changed} changed", f"{unchanged} unchanged"]
    parts += [f"{len(skipped)} skipped"] if skipped else []
    parts += [f"{len(failed)} failed"] if failed else []
    parts += [f"{len(stopped)} not finished"] if stopped else []
    parts += [f"{notes} note{'s' if notes != 1 else ''}"] if notes else []
    counts = f"{len(outcomes)} relay{'s' if len(outcomes) != 1 else ''}: {', '.join(parts)}."
    if stopped_by:
        counts = f"{counts} Run stopped by {stopped_by}."
    behind = [one_line(name) for name in skipped + failed + stopped]
    if behind:
        named = ", ".join(behind[:3]) + (f" and {len(behind) - 3} more" if len(behind) > 3 else "")
        return f"{counts} NOT CONVERGED, run again for {named}"
    return f"{counts} Converged{'; read the notes above' if notes else ''}."


ENFORCEMENT_HEADER = "Where the exit policy is enforced:"


def enforcement_lines(outcomes: Sequence[RelayOutcome]) -> list[str]:
    """One statement per distinct claim, with the relays it is true of, wrapped to the width; none if no claims."""
    relays: dict[str, list[str]] = {}
    for o in outcomes:
        if o.enforcement:
            relays.setdefault(one_line(o.enforcement), []).append(one_line(o.name))
    lines = [ENFORCEMENT_HEADER] if relays else []
    for claim, names in relays.items():
        named = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        lines += textwrap.wrap(f"{named}: {claim}", WIDTH, initial_indent="  ", subsequent_indent=INDENT,
                               break_on_hyphens=False, break_long_words=False)
    return lines


def format_summary(outcomes: Iterable[RelayOutcome], stopped_by: str | None = None) -> str:
    """Aligned relay lines (a '!' marks the ones needing attention, details indented below), then the verdict."""
    outcomes = list(outcomes)
    head = ("relay", "net", "nickname", "address", "policy")
    rows = []
    for o in outcomes:
        cells = [one_line(o.name)]
        for key in ("network", "nickname", "address", "policy_id"):
            cells.append(clip(one_line(getattr(o, key)) or "-", CAPS[key]))
        rows.append(cells)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    fixed = 2 + sum(widths) + len(GAP) * len(widths)
    room = max(WIDTH - fixed, 0)

    def line(marker: str, cells: Sequence[str], last: str) -> str:
        return (marker + GAP.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + GAP + last).rstrip()

    out = [HEADER, line("  ", head, "changes")]
    for o, cells in zip(outcomes, rows, strict=True):
        out.append(line("! " if o.needs_attention else "  ", cells, changes_text(o, room)))
        out += attention_lines(o)
    out += enforcement_lines(outcomes)
    out.append(verdict(outcomes, stopped_by))
    return "\n".join(out)
