"""Benchmark: first converge and no-op re-run of a local fleet at several sizes.

    ./kit bench [--sizes 1,3,10]

Prints a table of wall times and remote commands per host (counted from pyinfra's
--debug log). A no-op re-run should cost little more than pyinfra's fact reads.
The relays run Debian 13 and get their packages through the lab's apt proxy; the
table says how much of a first converge's download the proxy had to fetch from
the mirror (a cold cache) and how much it served from its cache (warm).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from exitkit.lab.containers import LocalFleet
from exitkit.lab.fence import proxy_log_mark, proxy_traffic
from exitkit.lab.runs import lab_inventory, pyinfra, write_fleet_folder

GROUP_DATA = {"all": {"operator_name": "Bench Exit Collective", "abuse_email": "abuse@example.net",
                      "domain": "example.net", "test_network_off": True,
                      "reboot_window": "00:00-06:00", "reboot_max_at_once": 2}}
COMMAND = re.compile(r"Running command on ([\w.-]+)")


def converge(inventory: Path) -> tuple[float, float, int]:
    """Wall seconds, remote commands per host (mean), changes; pyinfra runs from the fleet folder."""
    started = time.monotonic()
    result = pyinfra(inventory, "--debug", cwd=inventory.parent.parent)
    took = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"pyinfra failed:\n{result.stderr[-3000:]}")
    per_host = Counter(COMMAND.findall(result.stderr))
    changes = re.search(r"Grand total\s+\d+\s+(\S+)", result.stdout + result.stderr)
    changed = int(changes.group(1)) if changes and changes.group(1) != "-" else 0
    return took, sum(per_host.values()) / max(len(per_host), 1), changed


def apt_cache(fetched: int, served: int) -> str:
    """How warm the proxy's cache was for a first converge: what it fetched from the mirror of what it served."""
    state = "warm" if fetched <= served / 10 else "cold"
    return f"{state}: {fetched / 1e6:.0f} of {served / 1e6:.0f} MB from the mirror"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,3,10")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    rows = []
    for size in sizes:
        lab = LocalFleet("bench", size, release="trixie")
        lab.down()
        try:
            lab.up()
            groups = {"exits": {r.name: {"nickname": f"bench{i}"} for i, r in enumerate(lab.relays, 1)}}
            # unbound on bench relays asks the lab's resolver on their network (it forwards nothing), never the root
            group_data = {"all": {**GROUP_DATA["all"], "dns_forwarders": [lab.resolver]}}
            inventory = write_fleet_folder(Path(tempfile.mkdtemp(prefix="exitkit-bench-")), lab.name,
                                           lab_inventory(lab, groups), group_data)
            mark = proxy_log_mark()
            first = converge(inventory)
            fetched, served = proxy_traffic(mark)
            again = converge(inventory)
            rows.append((size, *first, apt_cache(fetched, served), *again))
        finally:
            lab.down()
    print("| relays | first converge | commands/host | changes | apt proxy | no-op re-run | commands/host | changes |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    for size, t1, c1, ch1, cache, t2, c2, ch2 in rows:
        print(f"| {size} | {t1:.1f} s | {c1:.0f} | {ch1} | {cache} | {t2:.1f} s | {c2:.0f} | {ch2} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
