"""The answer to a complaint, as text for the operator and as JSON for scripts."""

from __future__ import annotations

import json

from exitkit.complaints.facts import Facts
from exitkit.complaints.judge import Judgement, Verdict
from exitkit.complaints.message import Complaint


def as_dict(complaint: Complaint, facts: Facts, verdict: Verdict) -> dict:
    outer = complaint.outer
    return {
        "complaint": {"input": complaint.kind_of_input, "subject": outer.subject, "from": outer.sender,
                      "date": outer.date, "message_id": outer.message_id, "language": facts.language,
                      "attached_mails": len(complaint.mails) - 1 if complaint.mails else 0},
        "kind": facts.kind, "kind_reason": facts.kind_reason,
        "times": [{"utc": f"{t.utc:%Y-%m-%dT%H:%M:%SZ}", "written": t.text, "zone": t.zone,
                   "ambiguous": t.ambiguous, "source": t.source} for t in facts.times],
        "destination": {"address": facts.destination.address, "port": facts.destination.port,
                        "host": facts.destination.host, "source": facts.destination.source},
        **verdict.as_dict(),
    }


def to_json(complaint: Complaint, facts: Facts, verdict: Verdict) -> str:
    return json.dumps(as_dict(complaint, facts, verdict), indent=2, ensure_ascii=False)


def to_text(complaint: Complaint, facts: Facts, verdict: Verdict) -> str:
    outer = complaint.outer
    lines = []
    if complaint.kind_of_input == "mail":
        lines.append(f"Complaint: {outer.subject or '(no subject)'!r} from {outer.sender or '(no sender)'}"
                     + (f", {outer.date}" if outer.date else "") + f"  [language: {facts.language}]")
        if len(complaint.mails) > 1:
            lines.append(f"  with {len(complaint.mails) - 1} attached mail(s), read too")
    else:
        lines.append(f"Complaint: plain text  [language: {facts.language}]")
    lines.append(f"Kind: {facts.kind}  (by {facts.kind_reason})")
    for t in facts.times:
        lines.append(f"Time of the incident: {t.shown()}  (written '{t.text}', in {t.source})")
    if not facts.times:
        lines.append("Time of the incident: NOT FOUND")
    d = facts.destination
    lines.append(f"Destination: {d.shown()}  (from {d.source})" if d.known else "Destination: NOT FOUND")
    for finding in verdict.relays:
        lines.append("")
        lines.append(f"{finding.relay} ({finding.network}, {finding.nickname}), address {finding.address}"
                     f"  (found in {finding.source})")
        if finding.instances:
            lines.append("  tor instances, any of which may have carried it: " + ", ".join(finding.instances))
        for j in finding.judgements:
            lines += ["  " + line for line in _judgement_lines(j, d.shown())]
    if verdict.not_ours:
        lines.append("")
        lines.append("Addresses that are no relay of this fleet: "
                     + ", ".join(f"{a['address']} ({a['source']})" for a in verdict.not_ours))
    if verdict.missing:
        lines.append("")
        lines.append("What is missing:")
        lines += [f"  - {m}" for m in verdict.missing]
    return "\n".join(lines)


def _judgement_lines(j: Judgement, destination: str) -> list[str]:
    head = f"at {j.time}" + (f" (AMBIGUOUS: {j.time_ambiguous})" if j.time_ambiguous else "") if j.time else "now"
    state = {True: "IN SERVICE", False: "NOT IN SERVICE", None: "in service: cannot tell"}[j.in_service]
    lines = [f"{head}: {state}; {j.explanation}"]
    if j.policy_id:
        lines.append(f"  policy {j.policy_id}" + ("" if j.exit is None else (" (an exit)" if j.exit else
                                                                           " (lets nothing out)")))
    if j.allowed is not None:
        verdict = "ALLOWED" if j.allowed else "NOT allowed"
        lines.append(f"  {destination}: {verdict} by '{j.rule}'" + (f"  # {j.note}" if j.note else "")
                     + f"  (judged by {j.by})")
    elif j.in_service is not False and j.policy_id:
        lines.append(f"  {destination}: cannot be judged (the destination port is not known)")
    return lines
