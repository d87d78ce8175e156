"""The demo: three lab relays converged from the repository's own fleet folder (inventory/demo.py)."""

from __future__ import annotations

import subprocess

from exitkit.lab import PROJECT
from exitkit.lab.containers import LocalFleet
from exitkit.lab.process import log
from exitkit.lab.runs import DEPLOY, pyinfra_command

DEMO = LocalFleet("demo", 3)
INVENTORY = PROJECT / "inventory" / "demo.py"


def demo() -> int:
    """Bring up (or reuse) the relays, converge them, say where they answer."""
    DEMO.up()
    log("converging the demo fleet: pyinfra inventory/demo.py deploys/exit.py")
    result = subprocess.run([pyinfra_command(), "-y", str(INVENTORY), str(DEPLOY)], cwd=PROJECT, check=False)
    if result.returncode != 0:
        return result.returncode
    print("\nThe demo relays answer here:")
    for relay in DEMO.relays:
        print(f"  {relay.name}: {relay.notice_url}   (ssh: port {relay.ssh_port}, container {relay.container})")
    print("Run it again to re-converge; ./kit demo-down removes the relays.")
    return 0


def demo_down() -> None:
    """Remove the relays; the image stays."""
    DEMO.down()
