"""The fleet as the kit models it: relays with validated settings, and the errors an operator is shown.

Every other module speaks of these; this one imports only the settings, so the
loader, the plan and the pyinfra glue can all use it without a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exitkit import settings as S

NOT_SET: Any = object()


class SettingsError(Exception):
    """One thing an operator wrote that is wrong, with everything needed to fix it."""

    def __init__(self, file: str, where: str, key: str | None, value: Any, expected: str):
        self.file, self.where, self.key, self.value, self.expected = file, where, key, value, expected
        super().__init__(str(self))

    def __str__(self) -> str:
        place = f"{self.file}: {self.where}"
        if self.key is not None:
            place += f", key '{self.key}'"
        got = "not set" if self.value is NOT_SET else f"got {self.value!r}"
        return f"{place}: {got}; {self.expected}"


class FleetInvalid(Exception):
    """All the errors found in a fleet; nothing may be touched."""

    def __init__(self, errors: list[SettingsError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class Relay:
    name: str
    groups: tuple[str, ...]
    settings: S.RelaySettings
    connection: dict = field(compare=False, hash=False)
    sources: dict = field(compare=False, hash=False, repr=False)  # key -> (file, where)


@dataclass(frozen=True)
class Fleet:
    name: str
    relays: tuple[Relay, ...]

    def relay(self, name: str) -> Relay:
        for relay in self.relays:
            if relay.name == name:
                return relay
        raise KeyError(name)

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for relay in self.relays:
            for group in relay.groups:
                out.setdefault(group, []).append(relay.name)
        return out


def source_of(relay: Relay, key: str) -> tuple[str, str]:
    """(file, place) where the relay's value of ``key`` was written; the defaults have no file."""
    return relay.sources.get(key, ("(default)", f"host '{relay.name}'"))


def relay_error(relay: Relay, key: str, value: Any, expected: str) -> SettingsError:
    """An error about one relay's setting, named where the operator wrote it (a group names the host too)."""
    file, where = source_of(relay, key)
    if where != f"host '{relay.name}'":
        where = f"{where} (for host '{relay.name}')"
    return SettingsError(file, where, key, value, expected)
