"""The fleet summary a real run prints: every relay once, with its identity and what changed."""

from __future__ import annotations

from exitkit.plan import exit_policy_of
from exitkit.policy import enforcement, policy_id
from exitkit.summary import ENFORCEMENT_HEADER


def test_first_and_no_op_runs_sum_up_every_relay(fleet, first_run, monkeypatch):
    monkeypatch.chdir(fleet.folder)
    relays = fleet.described().relays
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.changes == 0
    assert run.results["results"]["totals"]["error"] == 0  # stdout stayed pure JSON beside the summary
    lines = run.summary
    assert lines, run.stderr[-3000:]
    claims = lines.index(ENFORCEMENT_HEADER)
    assert claims == 2 + len(relays)  # no attention lines on a quiet fleet; then where each policy holds
    said = " ".join(line.strip() for line in lines[claims + 1:-1])
    for relay in relays:
        claim = enforcement(relay.settings).summary
        assert relay.name in said and claim in said, said
    assert "tor's own exit policy is the only check" in said  # no relay of the fleet has an exit address
    for relay in relays:
        s = relay.settings
        [row] = run.summary_row(relay.name)
        cells = row.split()
        assert cells == [relay.name, s.network, s.nickname, s.public_ipv4, policy_id(exit_policy_of(s)), "no", "change"]
    assert lines[-1] == f"{len(relays)} relays: 0 changed, {len(relays)} unchanged. Converged."
    # the first converge of the same relays listed what it changed on each
    # ... and, as its two notes, how to point the Nym gateway's nym-node at its new policy file
    assert first_run.summary[-1].startswith(f"{len(relays)} relays: {len(relays)} changed, 0 unchanged, 2 notes.")
    assert "upstream_exit_policy_url" in "\n".join(first_run.summary_row("relay-2"))
    for relay in relays:
        assert " changed: " in first_run.summary_row(relay.name)[0]
