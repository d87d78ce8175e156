"""A complaint judged against the fleet's history: which relay, in service then or not, and whether the policy
in force then let traffic out to the destination (with the deciding rule and its note).

Pure: the fleet's relays, its history and the kept policies come in as values (``exitkit.cli`` reads them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from exitkit.complaints.facts import Destination, Facts
from exitkit.complaints.times import FoundTime
from exitkit.history import RunRecord, StoredPolicy, first_in_service, in_force, relays_with_address, same_address
from exitkit.policy import ALWAYS_REJECTED


@dataclass(frozen=True)
class FleetRelay:
    """A relay as today's settings describe it, with its policy as the history would keep it."""

    name: str
    network: str
    nickname: str
    addresses: tuple[str, ...]
    policy: StoredPolicy


@dataclass
class Judgement:
    """One relay at one moment: in service or not, and what its policy then said about the destination."""

    time: str                     # the incident time, UTC ("" when the complaint gives none)
    time_ambiguous: str
    in_service: bool | None       # None: cannot be told (no time, or no history)
    record_time: str              # the deploy run whose record was in force ("" for today's settings)
    policy_id: str
    exit: bool | None
    allowed: bool | None          # None: the destination is not known well enough
    rule: str
    note: str
    by: str                       # "address and port", "port only" or ""
    explanation: str


@dataclass
class RelayFinding:
    address: str
    source: str
    relay: str
    network: str
    nickname: str
    instances: list[str]
    judgements: list[Judgement] = field(default_factory=list)


@dataclass
class Verdict:
    relays: list[RelayFinding]
    not_ours: list[dict]
    missing: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def judge(facts: Facts, fleet: list[FleetRelay], records: list[RunRecord],
          policies: dict[str, StoredPolicy]) -> Verdict:
    """Every address of the fleet the complaint names, judged at every incident time it gives."""
    findings: list[RelayFinding] = []
    not_ours: list[dict] = []
    for found in facts.addresses:
        names = _relays_of(found.address, fleet, records)
        if not names:
            if not same_address(found.address, facts.destination.address):
                not_ours.append({"address": found.address, "source": found.source})
            continue
        for name in names:
            current = next((r for r in fleet if r.name == name), None)
            last = [r for r in records if r.relay == name]
            network = current.network if current else last[-1].network
            nickname = current.nickname if current else last[-1].nickname
            then = in_force(records, name, facts.times[0].utc) if facts.times else None
            fingerprints = (then or (last[-1] if last else None) or _NO_RECORD).fingerprints  # the keys it had then
            instances = [f"{_instance(d)} {fp}" for d, fp in fingerprints.items()]
            finding = RelayFinding(found.address, found.source, name, network, nickname, instances)
            moments: list[FoundTime | None] = list(facts.times) or [None]
            for moment in moments:
                finding.judgements.append(_judge_one(name, found.address, moment, facts.destination, current,
                                                     records, policies))
            findings.append(finding)
    return Verdict(findings, not_ours, _missing(facts, findings, records))


_NO_RECORD = RunRecord("", "", "", "", "", "", "", "", False, "", False)


def _relays_of(address: str, fleet: list[FleetRelay], records: list[RunRecord]) -> list[str]:
    names = [r.name for r in fleet if any(same_address(address, a) for a in r.addresses)]
    return list(dict.fromkeys(names + relays_with_address(records, address)))


def _instance(data_dir: str) -> str:
    """tor's instance name from its data directory (/var/lib/tor -> default, /var/lib/tor-instances/i2 -> i2)."""
    return "default" if data_dir.rstrip("/") == "/var/lib/tor" else data_dir.rstrip("/").rsplit("/", 1)[-1]


def _judge_one(name: str, address: str, moment: FoundTime | None, destination: Destination, current: FleetRelay | None,
               records: list[RunRecord], policies: dict[str, StoredPolicy]) -> Judgement:
    time = f"{moment.utc:%Y-%m-%d %H:%M:%S} UTC" if moment else ""
    ambiguous = moment.ambiguous if moment else ""
    mine = [r for r in records if r.relay == name]
    if not mine:
        if current is None:
            return Judgement(time, ambiguous, None, "", "", None, None, "", "", "", "no record of this relay")
        judged = _against(current.policy, destination, current.addresses)
        return Judgement(time, ambiguous, None, "", current.policy.policy_id, None, *judged,
                         "no deploy of this fleet folder has been recorded yet: judged by TODAY's settings, "
                         "which may differ from those in force then")
    if moment is None:
        record = mine[-1]
        policy = policies.get(record.policy_id)
        judged = _against(policy, destination, record.addresses) if policy else (None, "", "", "")
        return Judgement("", "", None, record.time, record.policy_id, record.exit, *judged,
                         "no incident time: judged by the last deploy's record")
    then = in_force(records, name, moment.utc)
    if then is None:
        first = first_in_service(records, name)
        since = f"first deployed {first.time}" if first else "never deployed successfully"
        return Judgement(time, ambiguous, False, "", "", False, None, "", "", "",
                         f"not in service then ({since}): the fleet did not run this relay at that time")
    record = then
    if not any(same_address(address, a) for a in record.addresses):
        return Judgement(time, ambiguous, False, record.time, record.policy_id, record.exit, None, "", "", "",
                         f"this relay did not have {address} then: it had {', '.join(record.addresses) or 'none'} "
                         f"(deploy of {record.time})")
    policy = policies.get(record.policy_id)
    if policy is None:
        return Judgement(time, ambiguous, True, record.time, record.policy_id, record.exit, None, "", "", "",
                         f"policy {record.policy_id} is not kept in this fleet folder (.exitkit/policies/)")
    judged = _against(policy, destination, record.addresses)
    later = [r for r in records if r.relay == name and r.converged and r.moment > moment.utc]
    first = first_in_service(records, name)
    newer = "; the policy changed later" if later and later[0].policy_id != record.policy_id else ""
    return Judgement(time, ambiguous, True, record.time, record.policy_id, record.exit, *judged,
                     f"in service since {first.time if first else record.time}; what it ran then was set by the "
                     f"deploy of {record.time}{newer}")


def _against(policy: StoredPolicy | None, destination: Destination,
             own: tuple[str, ...] = ()) -> tuple[bool | None, str, str, str]:
    """(allowed, deciding rule, its note, by what) for the destination, as far as it is known."""
    if policy is None or not destination.port:
        return None, "", "", ""
    if destination.address:
        rule = policy.deciding_rule(destination.address, destination.port)
        return rule.action == "accept", rule.text, rule.note, "address and port"
    rule = policy.port_rule(destination.port)
    exceptions = [r for r in policy.named_before(destination.port)
                  if r.destination is not None and not any(r.destination.subnet_of(net)  # type: ignore[arg-type]
                                                           for net in ALWAYS_REJECTED if net.version == r.family)
                  and not any(same_address(str(r.destination.network_address), a) for a in own)]
    note = rule.note
    if exceptions:
        note = (note + "; " if note else "") + "except where an earlier rule names the address: " + ", ".join(
            r.text for r in exceptions[:5]) + (" ..." if len(exceptions) > 5 else "")
    return rule.action == "accept", rule.text, note, "port only"


def _missing(facts: Facts, findings: list[RelayFinding], records: list[RunRecord]) -> list[str]:
    missing = []
    if not facts.addresses:
        missing.append("an IP address: ask which address the traffic came from")
    elif not findings:
        missing.append("an address of this fleet: none of the addresses named is a relay of it, now or in its history")
    if not facts.times:
        missing.append("the time of the incident (with its time zone)")
    elif any(t.ambiguous for t in facts.times):
        missing.append("a certain time: " + "; ".join(f"'{t.text}' ({t.ambiguous})"
                                                      for t in facts.times if t.ambiguous))
    if not facts.destination.port:
        missing.append("the destination port (and address): without it the policy cannot be asked")
    elif not facts.destination.address:
        missing.append(f"the destination's address ({facts.destination.host or 'not named'}): "
                       "judged by its port alone")
    if not records:
        missing.append("a history: no deploy run has been recorded in this fleet folder yet")
    return missing
