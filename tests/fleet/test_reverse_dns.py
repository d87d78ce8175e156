"""Reverse-DNS notes at the end of a real run: what to ask the provider for, per relay, never a failure.

The run asks a dnsmasq on 127.0.0.1 that the test starts (dns_check_resolver);
a relay whose settings name no address is checked by the address it reports
itself (`ip -j addr`).
"""

from __future__ import annotations

from tests.dnsserver import dnsmasq

# relay-1 (tor-exit-1.example.net) is clean; relay-3 (tor-exit-2) has no PTR and no A record.
RECORDS = ["--host-record=tor-exit-1.example.net,192.0.2.21"]
# relay-2's settings name no address; it has this global one on its loopback (traffic to it stays in the container)
RELAY_2_ADDRESS = "192.0.0.9"


def notes(run, relay: str) -> list[str]:
    return [line.strip().removeprefix("note: ") for line in run.summary_row(relay)[1:]]


def test_a_run_notes_each_reverse_dns_action_and_still_succeeds(settings_restored, first_run):
    fleet = settings_restored
    fleet.exec("relay-2", "ip", "addr", "add", f"{RELAY_2_ADDRESS}/32", "dev", "lo", "scope", "global")
    try:
        with dnsmasq(RECORDS, "192.0.2.21") as resolver:
            fleet.group_data["all"]["dns_check_resolver"] = resolver
            del fleet.groups["nym_gateways"]["relay-2"]["public_ipv4"]
            run = fleet.deploy()
            assert run.returncode == 0, run.stderr[-3000:]  # advice, not an error
            assert notes(run, "relay-1") == []
            assert notes(run, "relay-3") == [
                "ask your provider to set the PTR of 192.0.2.23 to tor-exit-2.example.net (now: none)",
                "add to your zone: tor-exit-2.example.net. IN A 192.0.2.23"]
            # the policy file changed with relay-2's own address, so the nym-node hint comes too (deploys/notice.py)
            assert [n for n in notes(run, "relay-2") if "nym-node" not in n and "[exit_gateway]" not in n] == [
                f"ask your provider to set the PTR of {RELAY_2_ADDRESS} to nym-exit-1.example.net (now: none)",
                f"add to your zone: nym-exit-1.example.net. IN A {RELAY_2_ADDRESS}"]
            assert run.summary[-1].endswith("Converged; read the notes above.")

            again = fleet.deploy()  # the notes come again, and nothing changes on any relay
            assert again.returncode == 0 and again.changes == 0, again.changed()
            assert notes(again, "relay-3") == notes(run, "relay-3")
    finally:
        fleet.exec("relay-2", "ip", "addr", "del", f"{RELAY_2_ADDRESS}/32", "dev", "lo", check=False)
