"""Checks of tor settings that need more than one value or more than one relay (before any host)."""

from __future__ import annotations

from exitkit.model import Fleet, SettingsError, relay_error
from exitkit.tor.relay import instances


def fleet_checks(fleet: Fleet) -> list[SettingsError]:
    """A tor relay's ports and instance nicknames must not collide."""
    errors = []
    nicknames: dict[str, str] = {}
    for relay in fleet.relays:
        s = relay.settings
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
