"""The exit policy enforced by nftables for forwarded exit traffic (relays without a policy language)."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys.context import TEMPLATES, relay_settings
from deploys.ops import checked_file
from exitkit.plan import exit_policy_of
from exitkit.policy import render_nftables


@deploy("Exit policy in nftables")
def firewall():
    s = relay_settings()
    files.directory(name="exitkit configuration folder", path="/etc/exitkit", mode="755")
    ruleset = checked_file(name="Exit policy ruleset, checked by nft -c first",
                           content=render_nftables(exit_policy_of(s), s.exit_interface),
                           dest="/etc/exitkit/exit-policy.nft", check="nft -c -f {path}")
    unit = files.put(name="Unit that loads the ruleset at boot", src=str(TEMPLATES / "policy/exitkit-exit-policy.service"),
                     dest="/etc/systemd/system/exitkit-exit-policy.service")
    systemd.daemon_reload(name="Reload systemd for the exit policy unit", _if=unit.did_change)
    systemd.service(name="Exit policy unit enabled and active", service="exitkit-exit-policy.service",
                    running=True, enabled=True)
    systemd.service(name="Load the new exit policy (nft -f replaces our table atomically)",
                    service="exitkit-exit-policy.service", restarted=True, _if=ruleset.did_change)
