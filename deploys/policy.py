"""The exit policy enforced by nftables for forwarded exit traffic (relays without a policy language)."""

from __future__ import annotations

from pyinfra.api import deploy

from deploys.context import relay_settings
from deploys.ops import units, write_configs
from deploys.release import relay_release
from exitkit.configfile import UNITS, by_path
from exitkit.plan import exit_policy_of
from exitkit.policy import NFTABLES_RULESET, exit_addresses, policy_files
from exitkit.remote import Folder, WantedUnit


@deploy("Exit policy in nftables")
def firewall():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings = relay_settings()
    wanted = by_path(policy_files(exit_policy_of(settings), settings.exit_interface,
                                   exit_addresses(settings)))
    written = write_configs([wanted[NFTABLES_RULESET], wanted[f"{UNITS}/exitkit-exit-policy.service"]],
                            folders=[Folder("/etc/exitkit", mode=755)],
                            name="Exit policy ruleset (checked by nft -c first) and the unit that loads it at boot")
    # a new ruleset reaches the kernel by a restart of the unit (nft -f replaces our table atomically)
    units(name="Exit policy unit enabled and active, with the new ruleset loaded",
          wanted=[WantedUnit("exitkit-exit-policy.service")], restart=written.changed(NFTABLES_RULESET))
