"""The exit policy enforced by nftables for forwarded exit traffic (relays without a policy language)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys.context import relay_settings
from deploys.ops import write_config
from deploys.release import relay_release
from exitkit.configfile import UNITS, by_path
from exitkit.plan import exit_policy_of
from exitkit.policy import NFTABLES_RULESET, exit_addresses, policy_files


@deploy("Exit policy in nftables")
def firewall():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings = relay_settings()
    wanted = by_path(policy_files(exit_policy_of(settings), settings.exit_interface,
                                   exit_addresses(settings)))
    files.directory(name="exitkit configuration folder", path="/etc/exitkit", mode="755")
    ruleset = write_config(wanted[NFTABLES_RULESET], name="Exit policy ruleset, checked by nft -c first")
    unit = write_config(wanted[f"{UNITS}/exitkit-exit-policy.service"], name="Unit that loads the ruleset at boot")
    systemd.daemon_reload(name="Reload systemd for the exit policy unit", _if=unit.did_change)
    systemd.service(name="Exit policy unit enabled and active", service="exitkit-exit-policy.service",
                    running=True, enabled=True)
    systemd.service(name="Load the new exit policy (nft -f replaces our table atomically)",
                    service="exitkit-exit-policy.service", restarted=True, _if=ruleset.did_change)
