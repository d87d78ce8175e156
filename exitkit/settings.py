"""Every setting of a relay, defined once: its default, its check and its meaning.

The README's settings table is generated from ``RelaySettings`` (``python -m
exitkit settings-table``) and a test keeps the two equal. Settings are written
by the operator in YAML (``group_data/<group>.yml`` for groups, the inventory's
``<fleet>.yml`` for hosts); ``exitkit.fleet`` loads, merges and validates them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from exitkit import checks

REQUIRED: Any = object()  # marker default: the operator must set it

NETWORKS = ("tor", "nym", "anyone", "mix")
LANGUAGES = ("en", "de", "ja")
JURISDICTIONS = ("us", "de", "jp", "eu")
POLICY_PRESETS = ("tor-reduced", "tor-default", "web", "reject-all", "custom")
REBOOT_MODES = ("nightly", "when-required", "never")
TOR_SOURCES = ("debian", "torproject")
CONTACT_PROOFS = ("", "uri-rsa", "dns-rsa")
# deb.torproject.org archive signing key
TORPROJECT_KEY = "A3C4 F0F9 79CA A22C DBA8  F512 EE8C BC9E 886D DD89".replace("  ", " ")
TORPROJECT_REPOSITORY = "https://deb.torproject.org/torproject.org"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
# Blocklists that list an address for what it did (spam, abuse), not for being an exit (see exitkit.dnsbl).
DNSBL_ZONES = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org", "psbl.surriel.com")


def setting(default: Any, meaning: str, check: checks.Check, example: str = "") -> Any:
    """Declare one setting: default (or REQUIRED), a one-line meaning, a check."""
    metadata = {"meaning": meaning, "check": check, "example": example}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple for list defaults")
    if default is REQUIRED:
        return field(default=None, metadata={**metadata, "required": True})
    return field(default=default, metadata={**metadata, "required": False})


@dataclass(frozen=True)
class RelaySettings:
    """The validated settings of one relay (host data merged over its groups)."""

    # --- what this relay is and who answers for it
    network: str = setting("tor", "Anonymity network this relay exits for.", checks.one_of(*NETWORKS))
    nickname: str = setting(REQUIRED, "Relay nickname, 1-19 letters and digits, unique in the fleet.", checks.nickname, "exitkit1")
    operator_name: str = setting(REQUIRED, "Person or organisation running the relay, shown on the notice page.", checks.nonempty, "Example Privacy e.V.")
    abuse_email: str = setting(REQUIRED, "Address for complaints: notice page, security.txt and tor's ContactInfo.", checks.email, "abuse@example.org")
    operator_url: str = setting("", "Operator's web site, linked from the notice page.", checks.optional(checks.url))
    pgp_fingerprint: str = setting("", "OpenPGP fingerprint for encrypted reports (40 hex digits).", checks.optional(checks.pgp_fingerprint))
    phone: str = setting("", "Phone number for urgent legal contact, international form.", checks.optional(checks.phone))
    postal_address: str = setting("", "Postal or legal address shown on the notice page.", checks.optional(checks.nonempty))
    language: str = setting("en", "Language the notice page is served in by default.", checks.one_of(*LANGUAGES))
    jurisdictions: tuple = setting((), "Legal sections shown on the notice page: us, de, jp, eu.", checks.list_of(checks.one_of(*JURISDICTIONS), "jurisdictions"))
    investigator_languages: tuple = setting((), "Languages the operator reads reports in (tags such as en, de): the page's section for investigators and security.txt's Preferred-Languages; empty means the page's default language.", checks.list_of(checks.language_tag, "language tags"))
    response_time_hours: int = setting(0, "Hours within which the operator commits to answer a report, shown to investigators; 0 shows no commitment.", checks.integer(0, 720, "a number of hours"))

    # --- addresses and names
    domain: str = setting("", "Operator's DNS domain; relay names are made inside it.", checks.optional(checks.hostname), "example.org")
    hostname: str = setting("", "This relay's DNS name; empty means made from name_pattern.", checks.optional(checks.hostname))
    name_pattern: str = setting("{network}-exit-{index}.{domain}", "Pattern for relay names: {network}, {index}, {nickname}, {domain}.", checks.nonempty)
    public_ipv4: str = setting("", "Public IPv4 address the relay exits from.", checks.optional(checks.ip_of_version(4)))
    public_ipv6: str = setting("", "Public IPv6 address the relay exits from.", checks.optional(checks.ip_of_version(6)))
    timezone: str = setting("UTC", "Relay's time zone (IANA name) for reboot times.", checks.timezone)

    # --- the exit policy
    exit_policy: str = setting("tor-reduced", "Policy preset: tor-reduced, tor-default, web, reject-all or custom.", checks.one_of(*POLICY_PRESETS))
    exit_policy_rules: tuple = setting((), "Operator's accept/reject entries before the preset, e.g. 'reject 198.51.100.7:443'.", checks.list_of(lambda x: x, "policy entries"))
    ipv6_exit: bool = setting(False, "Whether the relay exits to IPv6 destinations.", checks.boolean)
    exit_interface: str = setting("eth0", "Interface whose forwarded exit traffic nftables filters by the policy.", checks.interface)

    # --- what the relay keeps, and when it reboots
    access_log: bool = setting(False, "lighttpd access log (without any visitor address) on or off.", checks.boolean)
    log_lifetime_hours: int = setting(24, "Hours within which every log line is gone: files under /var/log and purge_dirs, the journal.", checks.integer(1, 720, "a number of hours"))
    purge_dirs: tuple = setting((), "Log directories purged besides /var/log (never keys or configuration).", checks.list_of(checks.absolute_path, "absolute paths"))
    reboot: str = setting("nightly", "Reboot nightly, only when-required by updates, or never.", checks.one_of(*REBOOT_MODES))
    reboot_window: str = setting("02:00-04:00", "Local time window for the nightly reboot.", checks.time_window)
    reboot_max_at_once: int = setting(1, "Most relays of the fleet rebooting at the same moment.", checks.integer(1, 1000))
    reboot_slot_minutes: int = setting(15, "Minutes a rebooting relay counts as down.", checks.integer(5, 120, "a number of minutes"))
    security_updates: bool = setting(True, "Install Debian security updates automatically (unattended-upgrades).", checks.boolean)
    daemon_no_traffic_logs: bool = setting(False, "Nym, Anyone, mix: the operator states that the network's own software (not set up by exitkit) logs no traffic; shown as the operator's statement.", checks.boolean)

    # --- the tor relay (network: tor)
    tor_package_source: str = setting("debian", "Where tor comes from: Debian's archive, or the Tor Project's own repository.", checks.one_of(*TOR_SOURCES))
    torproject_key_fingerprint: str = setting(TORPROJECT_KEY, "Pinned fingerprint of the Tor Project's archive signing key.", checks.pgp_fingerprint)
    torproject_repository: str = setting(
        TORPROJECT_REPOSITORY,
        "Address of the Tor Project's package repository; its signing key is fetched from there too.", checks.url)
    tor_instances: int = setting(1, "tor instances on this host (tor@default, tor@i2, ...), each with its own ports and keys.", checks.integer(1, 8))
    or_port: int = setting(9001, "ORPort of the first tor instance; instance n uses or_port + n - 1.", checks.port)
    or_ipv6: bool = setting(False, "Also listen for relays on public_ipv6 (needs public_ipv6).", checks.boolean)
    contact_info: str = setting("", "tor's ContactInfo as free text; empty means built from the contact settings (ContactInfo sharing spec v2).", checks.optional(checks.nonempty))
    contact_proof: str = setting("", "Proof of operator domain in ContactInfo: uri-rsa, dns-rsa, or none.", checks.one_of(*CONTACT_PROOFS))
    metrics_port: int = setting(0, "tor MetricsPort on 127.0.0.1 for the first instance (next instances +1); 0 means off.", checks.integer(0, 65535, "a port number (0 for off)"))
    bandwidth_rate: str = setting("", "tor's BandwidthRate, such as '20 MBytes'; empty means unlimited.", checks.optional(checks.tor_bandwidth))
    bandwidth_burst: str = setting("", "tor's BandwidthBurst, such as '40 MBytes'; empty means tor's default.", checks.optional(checks.tor_bandwidth))
    outbound_bind_address_exit: tuple = setting((), "Addresses kept for tor's exit connections only (OutboundBindAddressExit; one IPv4, one IPv6); nftables judges all they send.", checks.exit_addresses, "198.51.100.20")
    tor_family: str = setting("fleet", "Relays with the same family name declare each other (MyFamily, FamilyId); empty for none.", checks.family_name)
    tor_family_rotate: bool = setting(False, "Give the family's relays the control machine's family key (a new one if it has none) even where a relay carries another; for an intended rotation only.", checks.boolean)
    dns_forwarders: tuple = setting((), "Resolvers unbound forwards to; empty (advised) means it resolves from the root itself.", checks.list_of(checks.private_resolver, "resolver addresses"))
    key_backup_dir: str = setting("", "Folder on the control machine to copy each relay's identity keys to (0600); empty means no copy.", checks.optional(checks.nonempty))

    # --- fleet operations
    restart_batch_size: int = setting(0, "Relays restarting tor or lighttpd at the same time; 0 means a quarter of the fleet, at least one.", checks.integer(0, 1000))
    restart_wait_seconds: int = setting(90, "How long a restarted relay may take to answer again before the rolling restart stops.", checks.integer(5, 3600, "a number of seconds"))
    run_lock_wait_seconds: int = setting(0, "How long a run waits for another run's lock on a relay; 0 means it leaves that relay alone at once.", checks.integer(0, 86400, "a number of seconds"))
    name_must_say_exit: bool = setting(True, "Refuse relay names whose first label does not say exit, relay, proxy...", checks.boolean)
    dns_check_resolver: str = setting("", "Resolver the reverse-DNS and blocklist checks ask (address[:port]); empty means the system's (a test_network_off fleet then asks none).", checks.optional(checks.resolver_address))
    notice_url: str = setting("", "Where the notice page answers from outside; empty means `http://<public address>:<http_port>/` (for the outside check).", checks.optional(checks.url))
    dnsbl_zones: tuple = setting(DNSBL_ZONES, "DNS blocklists `exitkit dnsbl` asks about every relay address (lists of every exit by design left out).", checks.list_of(checks.hostname, "DNS zones such as zen.spamhaus.org"))
    rdap_server: str = setting("https://rdap.org/", "RDAP service `exitkit complaint --draft` asks for the abuse contact of a mail server a spam went through; empty means none.", checks.optional(checks.url))

    # --- the web server
    http_port: int = setting(80, "Port the notice page is served on.", checks.port)
    https_port: int = setting(443, "Port the notice page is served on over HTTPS, once the relay has a certificate; 0 means no HTTPS.", checks.integer(0, 65535, "a port number (0 for off)"))
    acme_directory: str = setting(LETS_ENCRYPT, "ACME directory URL of the CA the relay asks for its certificate.", checks.url)
    acme_contact: str = setting("", "E-mail address the CA may write to about the certificate; empty means abuse_email.", checks.optional(checks.email))
    acme_terms_accepted: bool = setting(False, "You have read and accept the ACME CA's terms of service; no certificate is asked for before.", checks.boolean)
    acme_ip_certificates: bool = setting(False, "Also certify the relay's public addresses (Let's Encrypt: short-lived profile; Debian 13 relays).", checks.boolean)

    # --- test fleets only
    test_network_off: bool = setting(False, "TEST AND DEMO FLEETS ONLY: keep tor off the real network (DisableNetwork, no descriptor) and unbound off the root servers.", checks.boolean)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RelaySettings:
        """Build from already validated data (host.data in a deploy); unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)


SETTINGS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(RelaySettings)}

# Keys that belong to pyinfra's SSH connector: allowed beside our settings.
CONNECTION_KEYS: dict[str, checks.Check] = {
    "ssh_hostname": checks.nonempty,
    "ssh_port": checks.port,
    "ssh_user": checks.nonempty,
    "ssh_key": checks.nonempty,
    "ssh_key_password": checks.text,
    "ssh_password": checks.text,
    "ssh_known_hosts_file": checks.nonempty,
    "ssh_strict_host_key_checking": checks.one_of("yes", "no", "off", "accept-new"),
    "ssh_config_file": checks.nonempty,
    "ssh_connect_retries": checks.integer(0, 100),
    "ssh_connect_retry_min_delay": checks.integer(0, 600),
    "ssh_connect_retry_max_delay": checks.integer(0, 600),
    "_sudo": checks.boolean,
}


def default_of(name: str) -> Any:
    f = SETTINGS[name]
    return None if f.metadata["required"] else f.default


def settings_table() -> str:
    """The README's settings table, in Markdown."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, f in SETTINGS.items():
        if f.metadata["required"]:
            default = f"**required** (e.g. `{f.metadata['example']}`)"
        elif f.default in ("", ()):
            default = "(none)"
        elif isinstance(f.default, tuple):
            default = "`" + ", ".join(f.default) + "`"
        else:
            default = f"`{str(f.default).lower() if isinstance(f.default, bool) else f.default}`"
        rows.append(f"| `{name}` | {default} | {f.metadata['meaning']} |")
    return "\n".join(rows) + "\n"
