"""Checks of tor settings that need more than one value or more than one relay (before any host)."""

from __future__ import annotations

from exitkit.model import Fleet, Relay, SettingsError, relay_error
from exitkit.policy import is_exit_preset
from exitkit.tor.relay import instances


def fleet_checks(fleet: Fleet) -> list[SettingsError]:
    """A tor relay's ports and instance nicknames must not collide."""
    errors = []
    nicknames: dict[str, str] = {}
    for relay in fleet.relays:
        s = relay.settings
        errors += _exit_address_errors(relay)
        if s.network != "tor":
            continue
        if s.or_ipv6 and not s.public_ipv6:
            errors.append(relay_error(relay, "or_ipv6", True,
                                      "expected public_ipv6 to be set when the ORPort listens on IPv6"))
        own = instances(s)
        or_ports = range(s.or_port, s.or_port + s.tor_instances)
        if or_ports[-1] > 65535:
            errors.append(relay_error(relay, "or_port", s.or_port,
                                      f"expected room for {s.tor_instances} ORPorts below 65536"))
        taken = {s.http_port: "http_port"}
        taken.update({i.metrics_port: "metrics_port" for i in own if i.metrics_port})
        for port in or_ports:
            if port in taken:
                errors.append(relay_error(relay, "or_port", s.or_port,
                                          f"expected ORPorts ({or_ports[0]}-{or_ports[-1]}) "
                                          f"apart from {taken[port]} {port}"))
                break
        if s.metrics_port and s.metrics_port + s.tor_instances - 1 > 65535:
            errors.append(relay_error(relay, "metrics_port", s.metrics_port,
                                      "expected room for a MetricsPort per instance"))
        for instance in own:
            other = nicknames.setdefault(instance.nickname.lower(), relay.name)
            if other != relay.name:
                errors.append(relay_error(relay, "nickname", s.nickname,
                                          f"expected nicknames unique in the fleet: tor "
                                          f"instance {instance.name} would be called {instance.nickname}, "
                                          f"as one on host '{other}' is"))
    return errors


def _exit_address_errors(relay: Relay) -> list[SettingsError]:
    """``outbound_bind_address_exit`` must be reserved for exits: a tor exit's, apart from its ORPort addresses.

    If it were also the relay's main address, the nftables table would judge tor's connections to other
    relays by the exit policy and cut the relay off its network.
    """
    s = relay.settings
    addresses = s.outbound_bind_address_exit
    if not addresses:
        return []
    key = "outbound_bind_address_exit"
    if s.network != "tor":
        return [relay_error(relay, key, list(addresses),
                            f"expected no exit address for network {s.network}: exitkit does not run its exit "
                            "software, so nothing would bind its connections to that address")]
    if not is_exit_preset(s.exit_policy):
        return [relay_error(relay, key, list(addresses),
                            f"expected no exit address on a relay that is not an exit (exit_policy {s.exit_policy})")]
    errors = []
    own = {s.public_ipv4: "public_ipv4", s.public_ipv6: "public_ipv6"}
    for address in addresses:
        if address in own:
            errors.append(relay_error(relay, key, address,
                                      f"expected an address apart from the relay's ORPort address ({own[address]}), "
                                      "used only for exit connections"))
        elif ":" in address and not s.ipv6_exit:
            errors.append(relay_error(relay, key, address,
                                      "expected ipv6_exit: true for an IPv6 exit address (tor makes no IPv6 exit "
                                      "connections with ipv6_exit off)"))
    return errors
