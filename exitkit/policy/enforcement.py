"""Where a relay's exit policy is enforced: the one claim the notice page, the run's summary and the README make.

Two places can hold the policy. The exit software's own policy (tor's
``ExitPolicy`` lines, which the kit writes; Nym's, Anyone's and a mix's
own readings, which the kit does not run) judges each connection before the
software opens it. The nftables table (``render_nftables``) judges packets in
the kernel: always those forwarded out of ``exit_interface``, and, for a tor
exit with ``outbound_bind_address_exit``, every packet tor sends from that
address. Without such an address the table cannot tell a tor exit connection
from tor's connections to other relays (same user, same address, same
interface), so it leaves them alone and tor's policy is the only check.

Pure logic from the settings; ``enforcement(settings)`` is the only place that decides the claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exitkit.settings import RelaySettings

#: Networks whose exit software carries only TCP streams (tor and its fork
#: Anyone): traffic without ports never leaves through them.
TCP_ONLY_NETWORKS = ("tor", "anyone")

_SOFTWARE = {"tor": "tor", "nym": "Nym's network requester", "anyone": "the Anyone daemon", "mix": "the mix software"}


def exit_addresses(settings: RelaySettings) -> tuple[str, ...]:
    """The addresses reserved for exit connections: a tor exit's ``outbound_bind_address_exit``, else none."""
    if settings.network != "tor":
        return ()
    value = settings.outbound_bind_address_exit
    return (value,) if isinstance(value, str) and value else tuple(value or ())


@dataclass(frozen=True)
class Enforcement:
    """Where one relay's exit policy holds.

    ``table_judges_own_connections``: the nftables table judges the
    connections the exit software opens itself (only a tor exit with exit
    addresses); otherwise only the software's own policy does.
    ``forwarded_interface``: the table always judges traffic forwarded out of
    it. ``text_key`` is the notice page's sentence (``policy.enforcement.*``,
    with ``{interface}`` and ``{exit_addresses}``); ``summary`` is the run
    summary's plain English line. ``carries_portless``: whether the network's
    exit can carry traffic without ports at all (not tor or Anyone).
    """

    network: str
    forwarded_interface: str
    exit_addresses: tuple[str, ...]
    table_judges_own_connections: bool
    carries_portless: bool
    text_key: str
    summary: str


def enforcement(settings: RelaySettings) -> Enforcement:
    """The claim about where this relay's exit policy is enforced, from its settings."""
    network = settings.network
    addresses = exit_addresses(settings)
    interface = settings.exit_interface
    software = _SOFTWARE.get(network, "the exit software")
    if addresses:
        key = "tor_exit_address"
        summary = (f"nftables judges tor's exit connections from {', '.join(addresses)} "
                   f"and traffic forwarded out of {interface}; tor's exit policy judges them too")
    elif network == "tor":
        key = "tor"
        summary = ("tor's own exit policy is the only check of tor's exit connections (no "
                   f"outbound_bind_address_exit); nftables judges only traffic forwarded out of {interface}")
    else:
        key = network if network in _SOFTWARE else "mix"
        summary = (f"{software} checks its own connections by its own policy, nftables does not; "
                   f"nftables judges only traffic forwarded out of {interface}")
    return Enforcement(
        network=network,
        forwarded_interface=interface,
        exit_addresses=addresses,
        table_judges_own_connections=bool(addresses),
        carries_portless=network not in TCP_ONLY_NETWORKS,
        text_key=f"policy.enforcement.{key}",
        summary=summary,
    )
