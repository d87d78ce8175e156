"""The exit policy's files on a relay: the nftables ruleset and the unit that loads it at boot."""

from __future__ import annotations

from exitkit.configfile import UNITS, ConfigFile, static
from exitkit.policy.presets import ExitPolicy
from exitkit.policy.render import render_nftables

NFTABLES_RULESET = "/etc/exitkit/exit-policy.nft"


def policy_files(policy: ExitPolicy, interface: str) -> list[ConfigFile]:
    """The nftables ruleset of the relay's exit policy on ``interface`` and the unit that loads it at boot."""
    return [
        ConfigFile(NFTABLES_RULESET, render_nftables(policy, interface), check="nft -c -f {path}"),
        static(f"{UNITS}/exitkit-exit-policy.service", "policy/exitkit-exit-policy.service"),
    ]
