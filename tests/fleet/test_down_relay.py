"""A relay that is down: the others converge, the summary names it, the run fails, the next run catches it up."""

from __future__ import annotations

import subprocess

from exitkit.summary import INDENT

NEW_RULE = {"rule": "reject 203.0.113.50:25", "note": "down-relay test"}


def test_a_stopped_relay_is_skipped_named_and_caught_up(settings_restored, first_run):
    fleet = settings_restored
    down = fleet.relay("relay-3")
    rules = fleet.group_data["tor_exits"].setdefault("exit_policy_rules", [])
    rules.append(NEW_RULE)
    # --restart=always brings a crashed relay back, but not one stopped on purpose
    subprocess.run(["podman", "stop", "-t", "5", down.container], check=True, capture_output=True)
    try:
        run = fleet.deploy()
        assert run.returncode != 0, "a run with an unreachable relay must not pass"
        assert run.results["results"]["failed_hosts"] == ["relay-3"]
        # the reachable tor exit converged all the same
        assert "down-relay test" in fleet.http("relay-1", "/exit-policy.txt").text
        assert 'comment "down-relay test"' in fleet.host("relay-1").run("nft list ruleset").stdout
        row = run.summary_row("relay-3")
        assert row[0].startswith("! relay-3") and row[0].endswith("SKIPPED"), run.summary
        assert row[1].startswith(f"{INDENT}unreachable: Could not connect"), run.summary
        assert down.address in row[1]  # the reason names where it tried
        assert " changed: " in run.summary_row("relay-1")[0]
        assert run.summary[-1].endswith("NOT CONVERGED, run again for relay-3")
    finally:
        subprocess.run(["podman", "start", down.container], check=True, capture_output=True)
        fleet.lab.wait_ready(down)

    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    assert "down-relay test" in fleet.http("relay-3", "/exit-policy.txt").text
    assert 'comment "down-relay test"' in fleet.host("relay-3").run("nft list ruleset").stdout
    assert run.changed(), "the caught-up relay changed"
    assert all(hosts == ["relay-3"] for hosts in run.changed().values())
    assert run.summary[-1].endswith("Converged.")
    again = fleet.deploy()
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.changes == 0, again.changed()
