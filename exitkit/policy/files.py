"""The exit policy's files on a relay: the nftables ruleset and the unit that loads it at boot."""

from __future__ import annotations

from collections.abc import Iterable

from exitkit.configfile import UNITS, ConfigFile, static
from exitkit.policy.presets import ExitPolicy
from exitkit.policy.render import render_nftables

NFTABLES_RULESET = "/etc/exitkit/exit-policy.nft"


def policy_files(policy: ExitPolicy, interface: str, exit_addresses: Iterable[str] = ()) -> list[ConfigFile]:
    """The nftables ruleset of the relay's exit policy (forwarded out of ``interface``, sent from
    ``exit_addresses``) and the unit that loads it at boot."""
    ruleset = render_nftables(policy, interface, exit_addresses=exit_addresses)
    return [
        ConfigFile(NFTABLES_RULESET, ruleset, check="nft -c -f {path}"),
        static(f"{UNITS}/exitkit-exit-policy.service", "policy/exitkit-exit-policy.service"),
    ]
