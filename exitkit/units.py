"""Whether a systemd unit exists, read the same way on every supported release.

``systemctl is-enabled`` of a missing unit prints nothing on Debian 12 (systemd 252)
and ``not-found`` on Debian 13 (systemd 257); ``systemctl show -p LoadState --value``
prints ``not-found``, ``masked`` or ``loaded`` on both, so the kit reads that.
"""

from __future__ import annotations

import shlex
from enum import StrEnum


class UnitState(StrEnum):
    """What a deploy needs to know of a package's unit before and after installing the package."""

    ABSENT = "absent"    # no such unit: the package is not installed yet
    MASKED = "masked"    # kept from starting (by the kit, before the package's install)
    PRESENT = "present"  # loaded (or present but broken: it exists all the same)


def load_state_command(unit: str) -> str:
    """Prints the unit's LoadState on one line; an empty line where systemctl cannot answer."""
    return f"systemctl show -p LoadState --value {shlex.quote(unit)} 2>/dev/null"


def unit_state(load_state: str) -> UnitState:
    """A LoadState as the kit acts on it. No answer reads as absent: masking first is the safe side,
    because a package that starts its daemon at once would run it with the package's own configuration."""
    value = load_state.strip()
    if value in ("", "not-found"):
        return UnitState.ABSENT
    if value == "masked":
        return UnitState.MASKED
    return UnitState.PRESENT
