"""A file the kit puts on a relay, as every concern describes it (see exitkit.configs for all of them)."""

from __future__ import annotations

from dataclasses import dataclass

from exitkit.templating import TEMPLATES

UNITS = "/etc/systemd/system"  # where the kit's own systemd units and drop-ins go


@dataclass(frozen=True)
class ConfigFile:
    """One file on the relay: where, what, its mode, and the command that checks it first.

    ``check`` names the new file ``{path}``; a file with a check is written only
    once that command accepted it (deploys.ops.checked_file).
    """

    path: str
    content: str | bytes
    mode: str = "644"
    check: str | None = None
    in_place: bool = False  # overwritten, not renamed (a container engine bind-mounts /etc/resolv.conf)
    in_containers: bool = True  # False: a container's engine owns this file, so the deploy leaves it alone there

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"a relay's file needs an absolute path, got {self.path!r}")
        int(self.mode, 8)  # refuses a mode that is not octal digits


def static(path: str, template: str, mode: str = "644", check: str | None = None) -> ConfigFile:
    """A file copied from templates/ as it is (bytes decoded as written, no newline translation)."""
    return ConfigFile(path, (TEMPLATES / template).read_bytes().decode("utf-8"), mode, check)


def by_path(files: list[ConfigFile]) -> dict[str, ConfigFile]:
    """The files of a concern by their path on the relay, for a unit that gives each its operation."""
    return {file.path: file for file in files}
