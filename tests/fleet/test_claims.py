"""Every claim the served pages make, checked on the converged relays of the shared fleet.

Which claims a relay's pages make is read from what it serves (every language's
page and fact sheet, and security.txt); each claim's checks from exitkit/notice/claims.py then
run on that relay, commands over `podman exec`, requests over HTTP. The figure
is claims made / claims whose every check passed on the relay: it must be 1.0.
relay-2 is then turned into an Anyone relay with `reject-all`, which must say it
is no exit, and into a mix exit, so every network's claims are checked on a
relay. (A tor relay with `reject-all` differs by its torrc's `ExitRelay 0`,
which the unit tests judge; restarting tor twice would cost more than this
test's share of the suite's time.)
"""

from __future__ import annotations

import copy
import time

import pytest

from exitkit import control, history
from exitkit.notice import available_languages, claims
from exitkit.notice.content import page_texts
from exitkit.plan import plan_fleet


def claims_and_problems(fleet, name: str) -> tuple[list[str], dict[str, list[str]]]:
    """The ids of the claims the relay's served pages make, and the problems each claim's checks found."""
    loaded = fleet.described()
    settings, plan = loaded.relay(name).settings, plan_fleet(loaded)[name]
    address = settings.public_ipv4 or settings.public_ipv6 or plan.hostname
    keys: set[str] = set()
    for lang in available_languages():
        texts = page_texts(settings, lang, address=address, reboot_time=plan.reboot_time)
        for path in (f"/index.{lang}.html", f"/facts.{lang}.html"):  # the page and its printable fact sheet
            page = fleet.http(name, path)
            assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8", (name, path)
            keys |= claims.keys_in(page.text, texts)
    security = fleet.http(name, "/.well-known/security.txt").text
    keys |= claims.keys_in(security, page_texts(settings, "en", address="", reboot_time=None))
    subject = claims.subject_of(settings, plan)
    problems: dict[str, list[str]] = {}
    made = claims.claims_made(keys)
    for claim in made:
        checks = claim.checks_for(settings.network)
        found = [] if checks else ["no check for this network"]
        for check in checks:
            if isinstance(check, claims.OverHttp):
                answer = fleet.http(name, check.path)
                found += check.judge(claims.HttpAnswer(answer.status_code, dict(answer.headers), answer.text), subject)
            else:
                run = fleet.exec(name, "sh", "-c", check.command(subject), check=False)
                found += check.judge(run.stdout, subject)
        problems[claim.id] = found
    return [claim.id for claim in made], problems


def figure(problems: dict[str, list[str]]) -> float:
    return sum(not found for found in problems.values()) / len(problems)


@pytest.mark.parametrize("name", ["relay-1", "relay-2", "relay-3"])
def test_every_claim_of_the_served_pages_holds_on_the_relay(fleet, first_run, name):
    started = time.monotonic()
    made, problems = claims_and_problems(fleet, name)
    print(f"{name}: {len(made)} claims made, figure {figure(problems):.2f}, "
          f"checked in {time.monotonic() - started:.1f} s: {made}")
    assert {"exit", "policy", "connects-dns", "page-loads-nothing"} <= set(made)
    assert ("tor-nicknames" in made) == (name != "relay-2")  # the tor exits list every instance's nickname
    assert ("tor-fingerprints" in made) == (name != "relay-2")  # and its fingerprint, checked against tor's file
    first = history.first_in_service(control.read_history(fleet.folder, fleet.lab.name), name)
    assert first is not None, "the first converge is in the fleet history"
    since = first.time[:10]  # the fact sheet's date is the first converged run's, recorded on the control machine
    assert f'<time datetime="{since}">{since}</time>' in fleet.http(name, "/facts.en.html").text
    assert "not-exit" not in made
    assert {claim: found for claim, found in problems.items() if found} == {}
    assert figure(problems) == 1.0


def assert_claims_hold(fleet, name: str, role: str) -> list[str]:
    made, problems = claims_and_problems(fleet, name)
    print(f"{name} ({role}): {len(made)} claims, figure {figure(problems):.2f}: {made}")
    assert {claim: found for claim, found in problems.items() if found} == {}
    return made


def test_anyone_relay_that_exits_nowhere_and_a_mix_exit_hold_their_claims(fleet, first_run):
    """relay-2 becomes an Anyone relay with reject-all, then the last mix of a cascade, then a Nym gateway again."""
    groups = copy.deepcopy(fleet.groups)
    started = time.monotonic()
    fleet.groups["nym_gateways"]["relay-2"].update(network="anyone", exit_policy="reject-all", exit_policy_rules=[])
    try:
        run = fleet.deploy("--limit", "relay-2")
        assert run.returncode == 0, run.stderr[-3000:]
        page = fleet.http("relay-2", "/index.en.html").text
        assert "This is an Anyone relay, but not an exit" in page
        assert "cannot have come from the people who use Anyone" in page
        assert "not an exit" in fleet.http("relay-2", "/.well-known/security.txt").text
        made = assert_claims_hold(fleet, "relay-2", "anyone, reject-all")
        assert "not-exit" in made and "exit" not in made
        fleet.groups["nym_gateways"]["relay-2"].update(network="mix", exit_policy="tor-reduced")
        run = fleet.deploy("--limit", "relay-2")
        assert run.returncode == 0, run.stderr[-3000:]
        assert "This is the last mix of a mix cascade" in fleet.http("relay-2", "/index.en.html").text
        made = assert_claims_hold(fleet, "relay-2", "mix")
        assert "exit" in made and "not-exit" not in made
    finally:
        fleet.groups = groups
        again = fleet.deploy("--limit", "relay-2")
        print(f"anyone with reject-all, mix, and back: {time.monotonic() - started:.1f} s")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nym-node" in "\n".join(again.summary_row("relay-2")), again.summary  # its policy file changed back
