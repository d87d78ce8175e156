"""The demo: three lab relays converged from the repository's own fleet folder (inventory/demo.py).

Beside the relays runs a dnsmasq on the fleet's ``dns_check_resolver`` that
answers for the demo's names and addresses, so ``exitkit rdns`` and every deploy
run of the demo ask nothing outside this machine.
"""

from __future__ import annotations

import subprocess
import sys

from exitkit.fleet import FleetInvalid, load_fleet
from exitkit.lab import PROJECT
from exitkit.lab.containers import LocalFleet
from exitkit.lab.dns import BackgroundDnsServer, fleet_host_records, fleet_zones
from exitkit.lab.process import log
from exitkit.lab.runs import DEPLOY, pyinfra_command
from exitkit.plan import plan_fleet

DEMO = LocalFleet("demo", 3, release="trixie")
INVENTORY = PROJECT / "inventory" / "demo.py"
DNS = BackgroundDnsServer(DEMO.dns_port, DEMO.dir / "dns")


def start_dns() -> int:
    """The demo's DNS server, with the records the demo fleet's settings plan; 2 if the settings are not valid."""
    try:
        fleet = load_fleet(INVENTORY, PROJECT)
        plans = plan_fleet(fleet)
    except FleetInvalid as invalid:
        print("the demo fleet's settings are not valid:", *(f"  {e}" for e in invalid.errors), sep="\n",
              file=sys.stderr)
        return 2
    records = fleet_host_records(fleet, plans)
    DNS.start([record.option for record in records], fleet_zones(fleet), records[0].addresses[0])
    return 0


def demo() -> int:
    """Bring up (or reuse) the relays and the DNS server, converge the relays, say where they answer."""
    DEMO.up()
    failed = start_dns()
    if failed:
        return failed
    log("converging the demo fleet: pyinfra inventory/demo.py deploys/exit.py")
    result = subprocess.run([pyinfra_command(), "-y", str(INVENTORY), str(DEPLOY)], cwd=PROJECT, check=False)
    if result.returncode != 0:
        return result.returncode
    print("\nThe demo relays answer here:")
    for relay in DEMO.relays:
        print(f"  {relay.name}: {relay.notice_url}   "
              f"(ssh: {relay.address}, Debian {relay.release}, container {relay.container})")
    print(f"Reverse DNS of the demo: dnsmasq on {DNS.address} (exitkit rdns inventory/demo.py)")
    print("Run it again to re-converge; ./kit demo-down removes the relays.")
    return 0


def demo_down() -> None:
    """Remove the relays and stop the DNS server; the image stays."""
    DNS.stop()
    DEMO.down()
