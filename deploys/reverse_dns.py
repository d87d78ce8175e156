"""Reverse-DNS notes in the run's summary: what each public address should be called and who must set it.

The PTR record is the hosting provider's, so this unit changes nothing on the
relay: it asks DNS from the control machine (exitkit.rdns) and notes every
action for the summary. A missing PTR is advice, never a failed run.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FactBase, deploy

from deploys.context import relay_plan, relay_settings
from deploys.release import relay_release
from deploys.summary import note
from exitkit import rdns


class PublicAddresses(FactBase):
    """The relay's global unicast addresses, from ``ip -j addr`` (for relays whose settings name none)."""

    def command(self) -> str:
        return "ip -j addr"

    def requires_command(self) -> str:
        return "ip"

    @staticmethod
    def default() -> list:
        return []

    def process(self, output):
        return rdns.public_addresses_from_ip_json("\n".join(output))


@deploy("Reverse DNS notes")
def reverse_dns_notes():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings = relay_settings()
    resolver = rdns.deploy_resolver(settings)
    if resolver is None:
        return
    addresses = [a for a in (settings.public_ipv4, settings.public_ipv6) if a]
    if not addresses:
        addresses = host.get_fact(PublicAddresses)  # read only where the settings are silent
    report = rdns.check_addresses(host.name, addresses, relay_plan().hostname, resolver)
    for line in rdns.notes(report):
        note(line)
