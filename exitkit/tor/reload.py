"""Whether a running tor takes a new torrc on reload or must restart: old torrc vs new torrc, nothing else.

A reload (``systemctl reload``: SIGHUP) makes tor re-read its torrc and keep its
process, its circuits and its connections. tor refuses some changes on reload and
keeps running its old configuration; those, and the ones it applies only at start,
need a restart. The list below is the kit's one record of them.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Options a running tor does not take on reload (lower case: tor's option names ignore case).
# From tor's src/app/config/config.c (0.4.7 to 0.4.9): options declared V_IMMUTABLE / VAR_IMMUTABLE, and those
# options_check_transition_cb refuses while the Sandbox is active (the kit's torrc says ``Sandbox 1``), with
# ClientOnly and ClientOnionAuthDir, which tor's manual (Sandbox) names too: a sandboxed tor opens only the files
# it opened at start, and must stay a server.
IMMUTABLE = frozenset({
    "cachedirectory", "datadirectory", "disableallswap", "disabledebuggerattachment",
    "hiddenservicesinglehopmode", "hiddenservicenonanonymousmode", "keydirectory", "keepbindcapabilities",
    "syslogidentitytag", "noexec", "pidfile", "testingtornetwork", "runasdaemon", "sandbox",
    "tokenbucketrefillinterval", "user",
})
REFUSED_UNDER_SANDBOX = frozenset({
    "address", "serverdnsresolvconffile", "dirportfrontpage", "cookieauthfile", "extorportcookieauthfile",
    "log", "connlimit", "clientonly", "clientonionauthdir",
})
# Where tor listens and sends from: tor re-binds listeners on reload, but the kit restarts for them, so a relay
# never keeps serving on an old port or address beside a new one (and a port below 1024 needs tor's start-time
# privileges). FamilyId names a key file that tor, sandboxed, may open only at start.
LISTENERS_AND_KEYS = frozenset({
    "orport", "dirport", "socksport", "controlport", "metricsport", "extorport", "transport", "natdport",
    "dnsport", "httptunnelport", "outboundbindaddress", "outboundbindaddressexit", "outboundbindaddressor",
    "outboundbindaddresspt", "familyid", "familykeydirectory",
})
NEED_RESTART = IMMUTABLE | REFUSED_UNDER_SANDBOX | LISTENERS_AND_KEYS


class TorrcChange(enum.IntEnum):
    """What a running tor needs for a new torrc; ordered, so the larger of two changes is max()."""

    NOTHING = 0
    RELOAD = 1
    RESTART = 2


def torrc_options(text: str) -> dict[str, list[str]]:
    """Option (lower case) -> its values in order, as tor reads a torrc: comments and blank lines dropped."""
    options: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, *value = line.split(None, 1)
        options.setdefault(key.lower(), []).append(value[0].strip() if value else "")
    return options


def restart_options(old: str, new: str) -> list[str]:
    """The options, as named in NEED_RESTART, whose values differ between the two torrcs (sorted)."""
    before, after = torrc_options(old), torrc_options(new)
    return sorted(key for key in NEED_RESTART if before.get(key) != after.get(key))


def torrc_change(old: str | None, new: str) -> TorrcChange:
    """What a tor that runs ``old`` needs to run ``new``; ``old`` None: not known, so a restart.

    Any other difference (a comment included) is a reload, so that the marker of the
    torrc tor runs follows the file and the next run has nothing to do.
    """
    if old is None:
        return TorrcChange.RESTART
    if old == new:
        return TorrcChange.NOTHING
    return TorrcChange.RESTART if restart_options(old, new) else TorrcChange.RELOAD


def torrc_digest(content: str) -> str:
    """How the applied marker names a torrc (what sha1sum prints)."""
    return hashlib.sha1(content.encode()).hexdigest()


def planned_change(applied: str | None, new: str, on_disk: Callable[[], str | None], tor_installed: bool
                   ) -> TorrcChange:
    """What an instance needs for the ``new`` torrc, judged before the run against the torrc it runs.

    ``applied``: the sha1 its start hook noted (before tor read its torrc) or its last reload noted; None: no
    marker. ``on_disk`` reads the torrc on the relay now (only when needed): it is the torrc tor runs when its
    sha1 is the marker's, else what tor runs is not known, which needs a restart. Without a marker, a relay
    whose tor is not installed (or still masked) needs nothing: its tor starts with the new torrc. Any other
    tor without a marker may be starting right now with the old torrc, so the run-time step must look.
    """
    if applied is None:
        return TorrcChange.RESTART if tor_installed else TorrcChange.NOTHING
    if applied == torrc_digest(new):
        return TorrcChange.NOTHING
    old = on_disk()
    return torrc_change(old if old is not None and torrc_digest(old) == applied else None, new)


def largest(changes: Iterable[TorrcChange]) -> TorrcChange:
    return max(changes, default=TorrcChange.NOTHING)


# ------------------------------------------------------------------ at run time
class Step(enum.Enum):
    """What the deploy does to one tor instance once its new torrc is in place."""

    NONE = "none"            # it already runs the torrc on disk
    RELOAD = "reload"        # systemctl reload: same process, circuits kept
    START_NOW = "start now"  # it served nobody before this run: (re)start at once, without waiting for others
    ROLL = "roll"            # it was serving and needs a restart: the rolling restart, a batch at a time


@dataclass(frozen=True)
class RunningTor:
    """One instance as the relay reports it at run time (``running_command``)."""

    name: str
    applied: str   # sha1 of the torrc it started with or last re-read ("" if it never ran since boot)
    on_disk: str   # sha1 of the torrc on disk now
    active: bool


def running_command(instances: Iterable[tuple[str, str, str]]) -> str:
    """One line per (name, torrc, service): name, applied sha1, sha1 of the torrc on disk, unit state."""
    parts = [f'echo "{name} $(cat /run/exitkit/tor@{name}.applied 2>/dev/null || echo -) '
             f"$(sha1sum < {torrc} | cut -d' ' -f1) $(systemctl is-active {service})\""
             for name, torrc, service in instances]
    return "; ".join(parts)


def parse_running(lines: Iterable[str]) -> dict[str, RunningTor]:
    out = {}
    for line in lines:
        fields = line.split()
        if len(fields) == 4:
            name, applied, on_disk, state = fields
            out[name] = RunningTor(name, "" if applied == "-" else applied, on_disk, state == "active")
    return out


def next_step(planned: TorrcChange, running: RunningTor, was_serving: bool) -> Step:
    """``planned``: what the torrc change needs (``torrc_change`` of the torrc tor ran at the start of the run and
    the new one, raised to a reload when the run rewrote MyFamily); ``was_serving``: the instance was active
    before the run. Only a restart of an instance that was serving is worth a rolling restart's wait."""
    if running.active and running.applied == running.on_disk:
        return Step.NONE
    if not running.active or not was_serving:
        return Step.START_NOW if not running.active or planned == TorrcChange.RESTART else Step.RELOAD
    return Step.ROLL if planned == TorrcChange.RESTART else Step.RELOAD
