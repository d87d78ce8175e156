"""What the fleet remembers: one record per relay per deploy run, so a complaint about a past moment can be
judged by what the relay was then, not by what the settings say today.

Records are JSON Lines in ``.exitkit/history/<fleet>.jsonl`` in the fleet folder, one object per relay per run,
appended at the end of every run that executed (a ``--dry`` preview writes nothing). Each names the policy by its
id; the policy itself (its effective rules with their notes) is kept once per id in
``.exitkit/policies/<id>.json``. Everything here is public (addresses, fingerprints, the published policy), so the
folder can be committed with the fleet.

Pure: records are built and read here; ``exitkit.control`` writes them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from exitkit.policy import ExitPolicy, Rule, parse_rule, policy_id

HISTORY_DIR = Path(".exitkit") / "history"    # in the fleet folder: <fleet>.jsonl
POLICY_DIR = Path(".exitkit") / "policies"    # in the fleet folder: <policy id>.json


def history_path(fleet_dir: Path, fleet: str) -> Path:
    return fleet_dir / HISTORY_DIR / f"{fleet}.jsonl"


def utc_text(moment: datetime) -> str:
    """A moment as the history writes it: UTC, seconds, 'Z'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunRecord:
    """One relay as one deploy run left it (``converged`` False: the run failed on it, so its state is unsure)."""

    time: str                  # when the run ended, UTC
    fleet: str
    relay: str
    network: str
    nickname: str
    hostname: str
    ipv4: str
    ipv6: str
    exit: bool                 # whether the policy lets anything out at all
    policy_id: str
    converged: bool
    fingerprints: dict[str, str] = field(default_factory=dict)   # tor data dir -> fingerprint
    reboot: str = ""           # e.g. "nightly 02:15 Europe/Berlin", "when-required", "never"

    @property
    def moment(self) -> datetime:
        return datetime.strptime(self.time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a)

    def to_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(", ", ": "))


def run_record(*, time: datetime, fleet: str, relay: str, network: str, nickname: str, hostname: str,
               ipv4: str, ipv6: str, policy: ExitPolicy, converged: bool, fingerprints: dict[str, str],
               reboot_mode: str, reboot_local: str = "", timezone: str = "") -> RunRecord:
    """The record of one relay at the end of a run, from what the run knew of it."""
    reboot = f"{reboot_mode} {reboot_local} {timezone}".strip() if reboot_mode == "nightly" else reboot_mode
    exits = any(r.action == "accept" for r in policy.rules)
    return RunRecord(time=utc_text(time), fleet=fleet, relay=relay, network=network, nickname=nickname,
                     hostname=hostname, ipv4=ipv4, ipv6=ipv6, exit=exits, policy_id=policy_id(policy),
                     converged=converged, fingerprints=dict(sorted(fingerprints.items())), reboot=reboot)


def parse_history(text: str, source: str = "history") -> list[RunRecord]:
    """Every record of a history file, oldest first; a line that is not a record is named, not skipped."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(RunRecord(**json.loads(line)))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{source}, line {number}: not a history record ({error})") from None
    return sorted(records, key=lambda r: r.time)


# --- the policies the records name


@dataclass(frozen=True)
class StoredPolicy:
    """A policy as kept beside the history: its effective rules, first match decides, as tor reads them."""

    policy_id: str
    preset: str
    ipv6_exit: bool
    rules: tuple[Rule, ...]

    def deciding_rule(self, address: str, port: int) -> Rule:
        parsed = ipaddress.ip_address(address)
        for rule in self.rules:
            if rule.matches(parsed, port):
                return rule
        return parse_rule("reject *:*")  # never reached: every policy ends so

    def allows(self, address: str, port: int) -> bool:
        return self.deciding_rule(address, port).action == "accept"

    def port_rule(self, port: int, version: int = 4) -> Rule:
        """The rule that decides ``port`` for an address no rule names (the first matching catch-all)."""
        for rule in self.rules:
            if rule.destination is None and version in rule.versions and rule.ports[0] <= port <= rule.ports[1]:
                return rule
        return parse_rule("reject *:*")

    def named_before(self, port: int, version: int = 4) -> list[Rule]:
        """Rules for particular networks, on this port, that come before its catch-all (the exceptions)."""
        out = []
        for rule in self.rules:
            if rule.destination is None and version in rule.versions and rule.ports[0] <= port <= rule.ports[1]:
                break
            if rule.destination is not None and rule.destination.version == version and \
                    rule.ports[0] <= port <= rule.ports[1]:
                out.append(rule)
        return out


def policy_document(policy: ExitPolicy) -> dict:
    """What is kept of a policy: enough to judge any destination again, and its id (checked when read)."""
    return {"policy_id": policy_id(policy), "preset": policy.preset, "ipv6_exit": policy.ipv6_exit,
            "rules": [[rule.text, rule.note] for rule in policy.rules]}


def stored_policy(document: dict) -> StoredPolicy:
    """A kept policy, read back; one whose rules no longer give its id is refused (edited by hand)."""
    canonical = {"preset": document["preset"], "ipv6_exit": document["ipv6_exit"],
                 "rules": [[text, note] for text, note in document["rules"]]}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if hashlib.sha256(blob.encode("ascii")).hexdigest()[:12] != document["policy_id"]:
        raise ValueError(f"policy {document['policy_id']}: its rules do not give its id (changed by hand?)")
    rules = tuple(Rule(r.action, r.destination, r.ports, r.family, note)
                  for r, note in ((parse_rule(text), note) for text, note in document["rules"]))
    return StoredPolicy(document["policy_id"], document["preset"], document["ipv6_exit"], rules)


# --- questions the history answers


def relay_records(records: Iterable[RunRecord], relay: str) -> list[RunRecord]:
    return [r for r in records if r.relay == relay]


def in_force(records: Iterable[RunRecord], relay: str, moment: datetime) -> RunRecord | None:
    """The last converged record of ``relay`` at or before ``moment``: what it ran then (None: not yet deployed)."""
    before = [r for r in relay_records(records, relay) if r.converged and r.moment <= moment]
    return before[-1] if before else None


def first_in_service(records: Iterable[RunRecord], relay: str) -> RunRecord | None:
    converged = [r for r in relay_records(records, relay) if r.converged]
    return converged[0] if converged else None


def same_address(a: str, b: str) -> bool:
    """Equal as addresses (IPv6 has many spellings)."""
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def relays_with_address(records: Iterable[RunRecord], address: str) -> list[str]:
    """Relays that ever had this address, in the order they first had it."""
    return list(dict.fromkeys(r.relay for r in records if any(same_address(address, a) for a in r.addresses)))
