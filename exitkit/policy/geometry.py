"""Address x port box arithmetic: which destinations a rule can still decide.

Used by ``build_policy``'s checks (an accept that can never match) and by
``accepts_anything``. Pure integer arithmetic over ``Rule``s.
"""

from __future__ import annotations

from collections.abc import Iterable

from exitkit.policy.rules import Rule

# --------------------------------------------------------------------------
# Region arithmetic: which (address, port) pairs a rule can still decide.
# A region is a list of boxes (version, first address, last address, lo, hi)
# with addresses as integers; subtracting a box leaves at most four.
# --------------------------------------------------------------------------

_Box = tuple[int, int, int, int, int]
_TOP = {4: (1 << 32) - 1, 6: (1 << 128) - 1}


def _region(rule: Rule) -> list[_Box]:
    lo, hi = rule.ports
    if rule.destination is not None:
        net = rule.destination
        return [(net.version, int(net.network_address), int(net.broadcast_address), lo, hi)]
    return [(v, 0, _TOP[v], lo, hi) for v in rule.versions]


def _overlaps(a: _Box, b: _Box) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2] and a[3] <= b[4] and b[3] <= a[4]


def _minus(boxes: list[_Box], cut: _Box) -> list[_Box]:
    out: list[_Box] = []
    for box in boxes:
        if not _overlaps(box, cut):
            out.append(box)
            continue
        version, first, last, lo, hi = box
        if first < cut[1]:
            out.append((version, first, cut[1] - 1, lo, hi))
        if last > cut[2]:
            out.append((version, cut[2] + 1, last, lo, hi))
        inner_first, inner_last = max(first, cut[1]), min(last, cut[2])
        if lo < cut[3]:
            out.append((version, inner_first, inner_last, lo, cut[3] - 1))
        if hi > cut[4]:
            out.append((version, inner_first, inner_last, cut[4] + 1, hi))
    return out


def _residual(rule: Rule, earlier: Iterable[Rule]) -> list[_Box]:
    """The part of rule's region that no earlier rule has decided."""
    boxes = _region(rule)
    for before in earlier:
        for cut in _region(before):
            boxes = _minus(boxes, cut)
            if not boxes:
                return boxes
    return boxes


def _intersects(a: Rule, b: Rule) -> bool:
    return any(_overlaps(x, y) for x in _region(a) for y in _region(b))
