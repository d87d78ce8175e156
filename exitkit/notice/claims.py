"""Every statement of fact the notice page and security.txt can make about a relay, declared once with its check.

A ``Claim`` names the text keys that state it (``languages/<lang>.yml``), the
settings it follows from, and the checks that prove it on a converged relay: a
command run there as root with a pure judge of its output (``OnRelay``), or a
request to the relay's web server with a pure judge of the answer (``OverHttp``).
A judge returns the problems it found; none means the claim holds.

Which claims a page makes is read from the rendered text itself
(``claims_made``): every text key whose filled-in text appears in the page.
Every such key is either a claim's or in ``NOT_CLAIMS`` with the reason it
states nothing about the relay (a heading, a label, advice, the network's
design, the operator's own statement). A unit test renders pages for many
settings and fails on a key that is neither; the fleet test runs every check of
every claim on converged relays.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import markupsafe

from exitkit.maintenance.files import (
    PURGE_TIMER,
    REBOOT_SCRIPT,
    REBOOT_SERVICE,
    reboot_check_command,
    reboot_findings,
)
from exitkit.maintenance.schedule import RebootTime
from exitkit.notice.content import grouped_fingerprint
from exitkit.notice.files import DOCROOT
from exitkit.notice.texts import Texts, flatten
from exitkit.plan import RelayPlan, exit_policy_of
from exitkit.policy import ExitPolicy, enforcement, render_nftables, render_nym, render_torrc
from exitkit.policy.files import NFTABLES_RULESET
from exitkit.settings import NETWORKS, RelaySettings
from exitkit.tor.relay import instances

LIGHTTPD_CONF = "/etc/lighttpd/lighttpd.conf"
UNBOUND_CONTROL = "unbound-control -c /etc/unbound/unbound.conf"


@dataclass(frozen=True)
class Subject:
    """What a judge knows about the relay: its settings, its exit policy and its part of the fleet plan."""

    settings: RelaySettings
    policy: ExitPolicy
    reboot: RebootTime | None = None  # its place in the fleet's reboot schedule; None without one


def subject_of(settings: RelaySettings, plan: RelayPlan) -> Subject:
    return Subject(settings, exit_policy_of(settings), plan.reboot)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    text: str


@dataclass(frozen=True)
class OnRelay:
    """A command run as root on the relay (its exit status is ignored: the judge reads what it printed)."""

    command: Callable[[Subject], str]
    judge: Callable[[str, Subject], list[str]]
    proves: str  # one line for the README


@dataclass(frozen=True)
class OverHttp:
    """A GET of ``path`` on the relay's notice address."""

    path: str
    judge: Callable[[HttpAnswer, Subject], list[str]]
    proves: str


Check = OnRelay | OverHttp


@dataclass(frozen=True)
class Claim:
    id: str
    says: str  # what the page states, in one line (README)
    keys: tuple[str, ...]  # text keys stating it; * matches one part (networks.*.lead)
    settings: tuple[str, ...]  # the settings that decide whether and how it is made
    checks: tuple[tuple[tuple[str, ...], Check], ...]  # (networks the check applies to, check)

    def states(self, key: str) -> bool:
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.keys)

    def checks_for(self, network: str) -> tuple[Check, ...]:
        return tuple(check for networks, check in self.checks if network in networks)


# ------------------------------------------------------------------ commands and judges
def _torrcs(subject: Subject) -> list[str]:
    return [instance.torrc for instance in instances(subject.settings)]


def _tor_units(subject: Subject) -> str:
    return " ".join(instance.service for instance in instances(subject.settings))


def _torrc_lines(keywords: str) -> Callable[[Subject], str]:
    """Each torrc's lines starting with one of ``keywords`` (a|b), prefixed by the torrc's path."""
    return lambda subject: (f"grep -HE '^({keywords}) ' {' '.join(_torrcs(subject))}; "
                            f"systemctl is-active {_tor_units(subject)}")


def _per_torrc(output: str, subject: Subject) -> tuple[dict[str, list[str]], list[str]]:
    """``_torrc_lines`` output as torrc -> lines, plus the problems of units that are not active."""
    lines: dict[str, list[str]] = {path: [] for path in _torrcs(subject)}
    states = []
    for line in output.splitlines():
        path, sep, rest = line.partition(":")
        if sep and path in lines:
            lines[path].append(rest.strip())
        elif line.strip():
            states.append(line.strip())
    units = _tor_units(subject).split()
    problems = [f"{unit} is {state}, expected active" for unit, state in zip(units, states, strict=False)
                if state != "active"]
    if len(states) != len(units):
        problems.append(f"expected the states of {len(units)} tor units, got {states}")
    return lines, problems


def _judge_exit_relay(wanted: str) -> Callable[[str, Subject], list[str]]:
    def judge(output: str, subject: Subject) -> list[str]:
        lines, problems = _per_torrc(output, subject)
        for path, found in lines.items():
            if f"ExitRelay {wanted}" not in found:
                problems.append(f"{path} lacks 'ExitRelay {wanted}' (has {[x for x in found if 'ExitRelay' in x]})")
        return problems
    return judge


def _judge_torrc_policy(output: str, subject: Subject) -> list[str]:
    lines, problems = _per_torrc(output, subject)
    wanted = [line for line in render_torrc(subject.policy).splitlines() if line.startswith("ExitPolicy ")]
    for path, found in lines.items():
        have = [line for line in found if line.startswith("ExitPolicy ")]
        if have != wanted:
            problems.append(f"{path}: its {len(have)} ExitPolicy lines are not the settings' {len(wanted)}")
    return problems


def _judge_nicknames(output: str, subject: Subject) -> list[str]:
    lines, problems = _per_torrc(output, subject)
    for instance in instances(subject.settings):
        if f"Nickname {instance.nickname}" not in lines.get(instance.torrc, []):
            problems.append(f"{instance.torrc} lacks 'Nickname {instance.nickname}'")
    return problems


def _judge_tor_relays(output: str, subject: Subject) -> list[str]:
    lines, problems = _per_torrc(output, subject)
    for path, found in lines.items():
        if not any(line.startswith("ORPort ") for line in found):
            problems.append(f"{path} has no ORPort: tor is not a relay")
        off = "DisableNetwork 1" in found
        if off != bool(subject.settings.test_network_off):
            problems.append(f"{path}: DisableNetwork 1 is {'set' if off else 'not set'}, "
                            f"but test_network_off is {subject.settings.test_network_off}")
    return problems


# What investigators.html.j2 prints for each tor instance whose key exists: nickname, then the fingerprint in groups
# of four, linked to its record in Tor Metrics.
_SHOWN_FINGERPRINT = re.compile(
    r'([A-Za-z0-9]{1,19}) <a href="https://metrics\.torproject\.org/rs\.html#details/([0-9A-F]{40})">'
    r'<code class="fp">([0-9A-F ]+)</code></a>')


def fingerprints_command(subject: Subject, root: str = "") -> str:
    """Each instance's fingerprint file (``nickname FINGERPRINT``), then what each served page shows of them;
    ``root`` puts both under another folder (the unit tests' rendered pages)."""
    files = " ".join(f"{root}{instance.data_dir}/fingerprint" for instance in instances(subject.settings))
    shown = _SHOWN_FINGERPRINT.pattern.replace("\\.", "[.]").replace("'", "")
    return (f"for f in {files}; do echo \"$f: $(cat \"$f\" 2>/dev/null)\"; done; "
            f"for f in {root}{DOCROOT}/index*.html {root}{DOCROOT}/facts.*.html; do "
            f"echo \"$f: $(grep -oE '{shown}' \"$f\" | tr '\\n' '|')\"; done")


def _judge_fingerprints(output: str, subject: Subject) -> list[str]:
    """Every page shows exactly the fingerprints tor wrote into the instances' data dirs, each beside its instance's
    nickname. (The nickname in tor's file is the one tor started with; a reload for a new one leaves it.)"""
    written: dict[str, str] = {}
    pages: dict[str, set[tuple[str, str, str]]] = {}
    for line in output.splitlines():
        path, _, content = line.partition(": ")
        if path.endswith("/fingerprint"):
            written[path.rsplit("/", 1)[0]] = content.strip()
        elif path.endswith(".html"):
            pages[path] = set(_SHOWN_FINGERPRINT.findall(content))
    problems, wanted = [], set()
    for instance in instances(subject.settings):
        data_dir = next((d for d in written if d.endswith(instance.data_dir)), instance.data_dir)
        fingerprint = written.get(data_dir, "").rpartition(" ")[2]
        try:
            grouped = grouped_fingerprint(fingerprint)
        except ValueError:
            problems.append(f"{instance.data_dir}/fingerprint holds no fingerprint: tor has made no key")
            continue
        wanted.add((instance.nickname, fingerprint, grouped))
    if not pages:
        problems.append(f"no page or fact sheet in {DOCROOT}")
    for path, shown in sorted(pages.items()):
        if shown != wanted:
            problems.append(f"{path} shows {sorted(f for _, f, _ in shown)}, tor's files hold "
                            f"{sorted(f for _, f, _ in wanted)}")
    return problems


_SEPARATOR = "----- live"


def _nft_command(subject: Subject) -> str:
    return f"cat {NFTABLES_RULESET}; echo '{_SEPARATOR}'; nft list table inet exitkit"


def _verdicts(text: str) -> list[str]:
    """The accept/drop verdicts of an nftables table's rules, in order (the chain's own policy left out)."""
    return [m.group(1) for line in text.splitlines() if not line.strip().startswith(("#", "type "))
            for m in [re.search(r"\b(accept|drop)\b(?: comment .*)?$", line.strip())] if m]


def _judge_nft_policy(output: str, subject: Subject) -> list[str]:
    written, sep, live = output.partition(_SEPARATOR)
    expected = render_nftables(subject.policy, subject.settings.exit_interface)
    problems = []
    if written.rstrip("\n") != expected.rstrip("\n"):
        problems.append(f"{NFTABLES_RULESET} is not the ruleset of the settings' policy")
    if "chain exit_policy" not in live or "hook forward" not in live:
        problems.append("table inet exitkit with its forward chain exit_policy is not loaded")
    elif _verdicts(live) != _verdicts(expected):
        problems.append(f"the loaded table has verdicts {_verdicts(live)[:6]}..., not the ruleset's")
    return problems


def _judge_enforcement(output: str, subject: Subject) -> list[str]:
    _, _, live = output.partition(_SEPARATOR)
    enforced = enforcement(subject.settings)
    problems = []
    if "hook forward" not in live or f'oifname "{enforced.forwarded_interface}" jump exit_policy' not in live:
        problems.append(f"the loaded table does not judge traffic forwarded out of {enforced.forwarded_interface}")
    for address in enforced.exit_addresses:
        if "hook output" not in live or not re.search(rf"saddr {re.escape(str(address))} jump exit_policy", live):
            problems.append(f"the loaded table does not judge what tor sends from {address}")
    if not enforced.exit_addresses and "hook output" in live:
        problems.append("the loaded table judges the relay's own connections, which the page says it does not")
    return problems


def _judge_nft_accepts(wanted: bool) -> Callable[[str, Subject], list[str]]:
    def judge(output: str, subject: Subject) -> list[str]:
        _, _, live = output.partition(_SEPARATOR)
        if "chain exit_policy" not in live:
            return ["table inet exitkit is not loaded"]
        accepts = "accept" in _verdicts(live)
        if accepts != wanted:
            return [f"the loaded exit policy {'lets' if accepts else 'lets no'} forwarded traffic out, "
                    f"expected {'some' if wanted else 'none'}"]
        return []
    return judge


def _judge_no_traffic_logging_kit(output: str, subject: Subject) -> list[str]:
    problems = []
    nft, _, rest = output.partition("----- unbound")
    if re.search(r"\blog\b", nft):
        problems.append("the loaded exit policy table logs packets")
    unbound, _, lighttpd = rest.partition("----- lighttpd")
    for option in ("log-queries", "log-replies"):
        if f"{option}: yes" in unbound or f"{option}: no" not in unbound:
            problems.append(f"unbound's {option} is not 'no'")
    if re.search(r'accesslog\.format\s*=\s*"[^"]*%[ahV]', lighttpd):
        problems.append("lighttpd's access log format records the visitor's address or host")
    return problems


def _no_traffic_logging_kit_command(subject: Subject) -> str:
    return ("nft list table inet exitkit; echo '----- unbound'; "
            "for o in log-queries log-replies; do printf '%s: ' $o; unbound-checkconf -o $o; done; "
            f"echo '----- lighttpd'; lighttpd -p -f {LIGHTTPD_CONF}")


def _judge_tor_logging(output: str, subject: Subject) -> list[str]:
    lines, problems = _per_torrc(output, subject)
    for path, found in lines.items():
        logs = [line for line in found if line.startswith("Log ")]
        if logs != ["Log notice syslog"]:
            problems.append(f"{path} logs {logs}, expected only 'Log notice syslog'")
        if "SafeLogging 1" not in found:
            problems.append(f"{path} lacks 'SafeLogging 1' (addresses would be logged)")
    return problems


def _judge_access_log(on: bool) -> Callable[[str, Subject], list[str]]:
    def judge(output: str, subject: Subject) -> list[str]:
        loaded = "mod_accesslog" in output
        if loaded != on:
            return [f"lighttpd's mod_accesslog is {'loaded' if loaded else 'not loaded'}; access_log is {on}"]
        if on and re.search(r'accesslog\.format\s*=\s*"[^"]*%[ahV]', output):
            return ["lighttpd's access log format records the visitor's address or host"]
        return []
    return judge


def _judge_journal(output: str, subject: Subject) -> list[str]:
    problems = []
    storage = re.findall(r"^Storage=(\S+)", output, re.M)
    if not storage or storage[-1] != "volatile":
        problems.append(f"journald's Storage is {storage[-1] if storage else 'unset'}, expected volatile")
    retention = re.findall(r"^MaxRetentionSec=(\d+)min", output, re.M)
    if not retention or int(retention[-1]) > subject.settings.log_lifetime_hours * 60:
        problems.append(f"journald's MaxRetentionSec is {retention[-1:] or 'unset'} min, "
                        f"more than {subject.settings.log_lifetime_hours} h")
    if not re.search(r"^enabled$", output, re.M):
        problems.append(f"{PURGE_TIMER.rsplit('/', 1)[-1]} is not enabled")
    return problems


def _judge_reboot_mode(output: str, subject: Subject) -> list[str]:
    problems = []
    if f"ExecStart={REBOOT_SCRIPT} {subject.settings.reboot}" not in output.splitlines():
        problems.append(f"exitkit-reboot.service does not run in mode {subject.settings.reboot}")
    return problems


def _judge_updates(output: str, subject: Subject) -> list[str]:
    problems = []
    if "install ok installed" not in output:
        problems.append("unattended-upgrades is not installed")
    if 'APT::Periodic::Unattended-Upgrade "1";' not in output:
        problems.append("APT::Periodic::Unattended-Upgrade is not 1")
    patterns = re.findall(r'Unattended-Upgrade::Origins-Pattern:: "([^"]*)";', output)
    if not patterns or any("Debian-Security" not in p for p in patterns):
        problems.append(f"unattended-upgrades takes origins other than Debian's security archive: {patterns}")
    return problems


def _judge_apt_origins(output: str, subject: Subject) -> list[str]:
    origins = set(re.findall(r"^Origin: (.+)$", output, re.M))
    allowed = {"Debian"} | ({"TorProject"} if _tor_from_torproject(subject.settings) else set())
    problems = [f"apt reads packages from origin {o!r}, which the page does not name"
                for o in sorted(origins - allowed)]
    problems += [f"apt has read no index of origin {o!r}" for o in sorted(allowed - origins)]
    return problems


def _tor_from_torproject(settings: RelaySettings) -> bool:
    return settings.network == "tor" and settings.tor_package_source == "torproject"


def _judge_forwarders(output: str, subject: Subject) -> list[str]:
    root = [line.split()[3:] for line in output.splitlines() if line.startswith(". IN forward")]
    wanted = [str(a) for a in subject.settings.dns_forwarders]
    got = root[0] if root else []
    if got != wanted:
        return [f"unbound forwards the root zone to {got or 'nobody (resolves itself)'}, expected {wanted or 'nobody'}"]
    return []


def _judge_page_loads_nothing(answer: HttpAnswer, subject: Subject) -> list[str]:
    problems = []
    if not answer.headers.get("Content-Security-Policy", "").startswith("default-src 'none'"):
        problems.append("/ is served without Content-Security-Policy default-src 'none'")
    if re.search(r"\ssrc=|<link[^>]+rel=\"?stylesheet|@import|url\(", answer.text):
        problems.append("/ refers to something to load (src=, a stylesheet, @import or url())")
    return problems


def _judge_policy_file(answer: HttpAnswer, subject: Subject) -> list[str]:
    if answer.status != 200 or answer.text != render_nym(subject.policy):
        return [f"/exit-policy.txt (status {answer.status}) is not the settings' policy"]
    return []


ALL = NETWORKS
TOR = ("tor",)
DAEMON = tuple(n for n in NETWORKS if n != "tor")  # networks whose daemon the kit does not run

TORRC_EXIT = OnRelay(_torrc_lines("ExitRelay"), _judge_exit_relay("1"),
                     "every torrc says `ExitRelay 1` and every tor unit is active")
TORRC_NOT_EXIT = OnRelay(_torrc_lines("ExitRelay"), _judge_exit_relay("0"),
                         "every torrc says `ExitRelay 0` and every tor unit is active")
NFT_ACCEPTS = OnRelay(_nft_command, _judge_nft_accepts(True),
                      "the loaded table `inet exitkit` lets some forwarded traffic out")
NFT_ACCEPTS_NONE = OnRelay(_nft_command, _judge_nft_accepts(False),
                           "the loaded table `inet exitkit` lets no forwarded traffic out")
NFT_POLICY = OnRelay(_nft_command, _judge_nft_policy,
                     "the ruleset file is the settings' policy and the loaded table has its verdicts in order")
TORRC_POLICY = OnRelay(_torrc_lines("ExitPolicy"), _judge_torrc_policy,
                       "every torrc's `ExitPolicy` lines are the settings' policy")
POLICY_FILE = OverHttp("/exit-policy.txt", _judge_policy_file, "`/exit-policy.txt` is the settings' policy")

CLAIMS: tuple[Claim, ...] = (
    Claim("exit", "this address is an exit: it forwards the network's users' traffic to destinations",
          ("networks.*.title", "networks.*.heading", "networks.*.lead", "networks.*.what", "summary.relay",
           "about.many_users", "about.not_origin", "security_txt.exit"),
          ("network", "exit_policy", "exit_policy_rules"),
          ((TOR, TORRC_EXIT), (ALL, NFT_ACCEPTS))),
    Claim("not-exit", "this address exits nowhere: traffic from it cannot come from the network's users",
          ("not_exit.*.title", "not_exit.*.heading", "not_exit.*.lead", "not_exit.summary", "not_exit.about",
           "not_exit.report", "security_txt.not_exit"),
          ("network", "exit_policy", "exit_policy_rules"),
          ((TOR, TORRC_NOT_EXIT), (ALL, NFT_ACCEPTS_NONE))),
    Claim("policy", "the exit policy shown (ports, blocked destinations, IPv6, private ranges) is the one applied",
          ("policy.intro", "policy.none_open", "policy.portless_open", "policy.portless_closed",
           "policy.all_except", "policy.blocked_intro",
           "policy.blocked_none", "policy.ipv6_on", "policy.ipv6_off", "policy.private", "policy.full"),
          ("exit_policy", "exit_policy_rules", "ipv6_exit", "exit_interface", "public_ipv4", "public_ipv6"),
          ((TOR, TORRC_POLICY), (ALL, NFT_POLICY), (ALL, POLICY_FILE))),
    Claim("enforcement", "where the exit policy is enforced: tor's own check, the packet filter on the exit "
          "interface, and on tor's exit address", ("policy.enforcement.*",),
          ("network", "exit_interface", "outbound_bind_address_exit"),
          ((ALL, OnRelay(_nft_command, _judge_enforcement,
                         "the loaded table sends traffic forwarded out of `exit_interface` through the policy, and "
                         "what tor sends from each exit address; with no exit address it has no output chain")),
           (TOR, TORRC_POLICY))),
    Claim("no-traffic-logs", "tor keeps no record of the traffic it forwards",
          ("summary.no_records", "records.no_traffic", "records.consequence", "investigators.handover"),
          ("network",),
          ((TOR, OnRelay(_torrc_lines("Log|SafeLogging"), _judge_tor_logging,
                         "every torrc logs only `notice` to syslog, with `SafeLogging 1`")),)),
    Claim("kit-keeps-no-traffic-logs", "what exitkit sets up (firewall, resolver, web server) records no traffic",
          ("daemon.records_kit", "investigators.handover_kit"),
          ("network", "access_log"),
          ((ALL, OnRelay(_no_traffic_logging_kit_command, _judge_no_traffic_logging_kit,
                         "the loaded nftables table has no `log`, unbound's log-queries and log-replies are `no`, "
                         "lighttpd's access log format has no address")),)),
    Claim("operational-logs", "the journal is in memory and logs are gone after the lifetime",
          ("records.operational", "investigators.handover", "investigators.handover_kit"),
          ("log_lifetime_hours", "purge_dirs"),
          ((ALL, OnRelay(lambda s: f"systemd-analyze cat-config systemd/journald.conf; "
                                   f"systemctl is-enabled {PURGE_TIMER.rsplit('/', 1)[-1]}",
                         _judge_journal, "journald's merged config has `Storage=volatile` and a retention within "
                         "the lifetime; the purge timer is enabled")),)),
    Claim("web-no-log", "the web server keeps no access log",
          ("records.web_no_log",), ("access_log",),
          ((ALL, OnRelay(lambda s: f"lighttpd -p -f {LIGHTTPD_CONF}", _judge_access_log(False),
                         "lighttpd's parsed config loads no `mod_accesslog`")),)),
    Claim("web-log", "the web server's access log holds no visitor address",
          ("records.web_log",), ("access_log",),
          ((ALL, OnRelay(lambda s: f"lighttpd -p -f {LIGHTTPD_CONF}", _judge_access_log(True),
                         "lighttpd's parsed config loads `mod_accesslog` with a format without `%h`/`%a`/`%V`")),)),
    Claim("reboot", "the computer restarts at the stated time, or when an update requires it",
          ("records.reboot_nightly", "records.reboot_nightly_window", "records.reboot_when_required",
           "records.reboot_skipped"),
          ("reboot", "reboot_window", "timezone"),
          ((ALL, OnRelay(lambda s: reboot_check_command(),
                         lambda out, s: reboot_findings(out, s.settings, s.reboot),
                         "the reboot script is the kit's (it skips a night while apt, dpkg or a deploy is at work) "
                         "and `exitkit-reboot.timer` is enabled and active at the fleet schedule's time")),
           (ALL, OnRelay(lambda s: f"grep -h '^ExecStart=' {REBOOT_SERVICE}", _judge_reboot_mode,
                         "`exitkit-reboot.service` runs in the settings' mode")))),
    Claim("security-updates", "Debian security updates are installed automatically",
          ("records.updates",), ("security_updates",),
          ((ALL, OnRelay(lambda s: "dpkg-query -W -f '${Status}\\n' unattended-upgrades; apt-config dump "
                                   "APT::Periodic::Unattended-Upgrade Unattended-Upgrade::Origins-Pattern",
                         _judge_updates, "unattended-upgrades installed, on, and limited to Debian-Security")),)),
    Claim("connects-apt", "the host fetches packages from the Debian archive (and the Tor Project's, if chosen)",
          ("connections.apt_debian", "connections.apt_torproject"),
          ("tor_package_source",),
          ((ALL, OnRelay(lambda s: "grep -h '^Origin:' /var/lib/apt/lists/*Release 2>/dev/null | sort -u",
                         _judge_apt_origins, "the origins of every index apt has read are the ones named")),)),
    Claim("connects-dns", "the host's resolver asks the root and the name servers below it, or the named forwarders",
          ("connections.dns_root", "connections.dns_forwarders"),
          ("dns_forwarders",),
          ((ALL, OnRelay(lambda s: f"{UNBOUND_CONTROL} status >/dev/null && echo answers; "
                                   f"{UNBOUND_CONTROL} list_forwards",
                         lambda out, s: (["unbound does not answer"] if "answers" not in out else [])
                         + _judge_forwarders(out, s),
                         "unbound answers and forwards the root zone to exactly `dns_forwarders` (none: it "
                         "resolves itself)")),)),
    Claim("connects-tor", "tor connects to other relays of the network",
          ("connections.tor_relays",),
          ("network", "test_network_off"),
          ((TOR, OnRelay(_torrc_lines("ORPort|DisableNetwork"), _judge_tor_relays,
                         "every torrc has an `ORPort` and every tor unit is active (`DisableNetwork 1` only in test "
                         "fleets)")),)),
    Claim("tor-nicknames", "the tor relays at this address carry the nicknames listed",
          ("investigators.relays",),
          ("nickname", "tor_instances"),
          ((TOR, OnRelay(_torrc_lines("Nickname"), _judge_nicknames,
                         "each instance's torrc has its `Nickname` and every tor unit is active")),)),
    Claim("tor-fingerprints", "each tor relay at this address has the fingerprint listed beside its nickname",
          ("investigators.fingerprints",),
          ("nickname", "tor_instances"),
          ((TOR, OnRelay(fingerprints_command, _judge_fingerprints,
                         "each instance's `fingerprint` file in its data directory holds the fingerprint every "
                         "served page and fact sheet shows beside the instance's nickname, and no other")),)),
    Claim("page-loads-nothing", "the page is served by the relay and loads nothing from elsewhere",
          ("page.footer",), (),
          ((ALL, OverHttp("/", _judge_page_loads_nothing,
                          "`/` has CSP `default-src 'none'` and no `src=`, stylesheet, `@import` or `url()`")),)),
)

#: Text keys that state nothing about the relay a check could prove, each with the reason.
NOT_CLAIMS: dict[str, str] = {
    "meta.*": "the language's own name",
    "page.skip_to": "navigation label",
    "page.languages": "navigation label",
    "units.*": "wording of numbers",
    "identity.*": "labels of the identifiers the operator set",
    "*.heading": "heading",
    "*.about_heading": "heading",
    "*_heading": "heading",
    "networks.*.name": "the network's name",
    "networks.*.more": "link label",
    "networks.*.block_*": "where the network publishes its exits (not this relay)",
    "blocking.*": "advice on blocking",
    "summary.ask_first": "advice: write first",
    "summary.block": "pointer to the blocking section",
    "connections.summary": "pointer to the connections section",
    "daemon.summary_stated": "the operator's own statement (daemon_no_traffic_logs), worded as such",
    "daemon.statement": "the operator's own statement (daemon_no_traffic_logs), worded as such",
    "daemon.unknown": "says what exitkit does not set up",
    "connections.intro": "introduces the list",
    "connections.daemon": "says what exitkit does not set up",
    "connections.time": "says what exitkit does not set up",
    "about.cannot_identify": "how the network is designed",
    "policy.destination": "table label",
    "policy.reason": "table label",
    "policy.no_reason": "table cell for an entry without a note",
    "policy.note": "table label",
    "contact.*": "contact labels and advice for reports",
    # The law, key by key (no wildcard: a new law text must be read before it is excused). They state what
    # a law says; where it turns on what the relay records or the operator can hand over, they point to the
    # records and investigators sections, whose claims are checked, and restate nothing of them.
    "law.disclaimer": "says the legal notes are general information, not advice",
    "law.dsa.mere_conduit": "the law: Article 4 DSA",
    "law.dsa.no_monitoring": "the law: Article 8 DSA",
    "law.us.mere_transit": "the law: 17 U.S.C. 512(a) and the takedown procedure of 512(c)",
    "law.us.conditions": "the law: 17 U.S.C. 512(i)",
    "law.us.no_accounts": "the network's design (no accounts), applied to 512(i); not shown for mix cascades",
    "law.us.subpoena": "the law: 17 U.S.C. 512(h) and RIAA v. Verizon",
    "law.us.records": "the law: the Stored Communications Act; points to the investigators section",
    "law.de.ddg_scope": "the law: section 7(1) DDG",
    "law.de.dsa_in_eu": "pointer to the European Union's section",
    "law.de.ddg": "the law: section 7(3) DDG",
    "law.de.blocking": "the law: section 8 DDG, and advice to write to the operator",
    "law.jp.act": "the law: the Information Distribution Platform Act's title and Articles 5 and 8",
    "law.jp.requests": "the law: Article 5(1) of that Act; points to the records and investigators sections",
    "law.jp.police": "the law: Articles 197(2), 197(3) and 218(1) of the Code of Criminal Procedure",
    "law.jp.secrecy": "the law: Article 21(2) of the Constitution, Article 4(1) Telecommunications Business Act",
    "law.eu.gdpr": "the law: Article 5(1)(c) GDPR; points to the records section",
    "investigators.papers": "label of the operator's postal address",
    "investigators.since": "label of the date the kit recorded in the fleet history on the control machine",
    "investigators.languages": "label of the operator's own statement (investigator_languages)",
    "investigators.response_label": "label of the operator's commitment",
    "investigators.response": "the operator's own commitment (response_time_hours), worded as such",
    "investigators.lookups": "introduces links to the network's public records",
    "investigators.relay_search": "link label",
    "investigators.exonerator": "link label",
    "investigators.fact_sheet": "pointer to the fact sheet",
    "investigators.sheet_title": "title of the fact sheet",
    "investigators.sheet_source": "pointer to the notice page",
}


def claim_of(key: str) -> Claim | None:
    return next((claim for claim in CLAIMS if claim.states(key)), None)


def not_a_claim(key: str) -> str:
    """Why a text key states nothing to check ("" when it is not listed). A claim's key is never excused."""
    if claim_of(key):
        return ""
    return next((why for pattern, why in NOT_CLAIMS.items() if fnmatch.fnmatchcase(key, pattern)), "")


def keys_in(rendered: str, texts: Texts) -> set[str]:
    """The text keys whose filled-in text appears in a rendered page or security.txt (escaped or not)."""
    found = set()
    for key in flatten(texts.raw):
        if key.startswith("units."):
            continue
        text = texts(key)
        if text and (text in rendered or str(markupsafe.escape(text)) in rendered):
            found.add(key)
    return found


def claims_made(keys: Iterable[str]) -> tuple[Claim, ...]:
    """The claims stated by these rendered keys, in registry order."""
    keys = set(keys)
    return tuple(claim for claim in CLAIMS if any(claim.states(key) for key in keys))


def claims_table() -> str:
    """The README's list of claims and their checks, in Markdown (``python -m exitkit.notice.claims``)."""
    rows = ["| claim | what the page says | decided by | checked on a converged relay |", "|---|---|---|---|"]
    for claim in CLAIMS:
        checks = []
        for networks, check in claim.checks:
            limited = any(set(n) != set(NETWORKS) for n, _ in claim.checks)
            where = f"{'all' if set(networks) == set(NETWORKS) else ', '.join(networks)}: " if limited else ""
            how = f"`GET {check.path}`: " if isinstance(check, OverHttp) else ""
            checks.append(f"{where}{how}{check.proves}")
        settings = ", ".join(f"`{s}`" for s in claim.settings) or "(always)"
        rows.append(f"| `{claim.id}` | {claim.says} | {settings} | {'; '.join(checks)} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(claims_table())
