"""Benchmark: first converge and no-op re-run of a local fleet at several sizes, against the package-only floor.

    ./kit bench [--sizes 1,3,10] [--cold] [--readme]   # 25 relays: --sizes 25 (about as long as the others together)

For each size, on fresh Debian 13 relays: the floor (bench/floor.py: apt-get update
and one install of the same packages, daemons kept from starting, on relays of
their own), then exitkit's first converge on new relays and a no-op re-run. Each
run reports its wall time, remote commands per host (counted from pyinfra's --debug
log), the peak memory of the pyinfra process, and how much of the apt download the
proxy fetched from the mirror (a cold cache) or served from its cache (warm); the
first converge is also given as a multiple of the floor. ``--cold`` empties the
proxy's cache before each floor and each first converge, as a new fleet meets the
mirror, and puts the lab's cache back at the end (it restarts the shared proxy: run
it alone). ``--timings`` prints where
a first converge's time went (pyinfra's phases and its slowest operations);
``--readme`` writes the table into README.md between its bench markers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exitkit.lab import PROJECT
from exitkit.lab.containers import LocalFleet
from exitkit.lab.fence import empty_apt_cache, held_apt_cache, proxy_log_mark, proxy_traffic
from exitkit.lab.runs import DEPLOY, lab_inventory, pyinfra_command, write_fleet_folder

GROUP_DATA = {"all": {"operator_name": "Bench Exit Collective", "abuse_email": "abuse@example.net",
                      "domain": "example.net", "test_network_off": True,
                      "reboot_window": "00:00-06:00", "reboot_max_at_once": 2}}
FLOOR = PROJECT / "bench" / "floor.py"
COMMAND = re.compile(r"Running command on ([\w.-]+)")
PHASE = re.compile(r"^--> (Connecting to hosts|Preparing operation files|Beginning operation run"
                   r"|Starting operation: (.*?)|Results:.*?)(?:\.\.\.)?\s*$")
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass
class Converge:
    """One pyinfra run: wall seconds, remote commands per host, changes, peak memory, apt proxy traffic."""

    seconds: float
    commands: float
    changes: int
    peak_mb: float
    fetched: int = 0
    served: int = 0
    phases: list[tuple[str, float]] = field(default_factory=list)  # (phase or operation, seconds), in order

    @property
    def cache(self) -> str:
        """How warm the proxy's cache was: what it fetched from the mirror of what it served to these relays."""
        if not self.served:
            return "-"
        state = "warm" if self.fetched <= self.served / 10 else "cold"
        return f"{state} ({self.fetched / 1e6:.0f}/{self.served / 1e6:.0f} MB)"


def timed_pyinfra(inventory: Path, deploy: Path, clients: Sequence[str], log: Path | None = None) -> Converge:
    """Run pyinfra from the fleet folder with --debug; each stderr line is timed as it arrives, and the process's
    own peak memory comes from wait4 (the rusage of that child alone). ``log`` keeps the timed debug log."""
    mark = proxy_log_mark()
    cmd = [pyinfra_command(), "-y", str(inventory), str(deploy), "--debug"]
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=inventory.parent.parent, stdout=out, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        lines = [(time.monotonic() - started, line) for line in proc.stderr]
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        took = time.monotonic() - started
        out.seek(0)
        stdout = out.read()
    stderr = "".join(line for _, line in lines)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(f"{at:9.3f} {line}" for at, line in lines))
    if proc.returncode != 0:
        raise SystemExit(f"pyinfra {deploy.name} failed:\n{stderr[-3000:]}")
    per_host = Counter(COMMAND.findall(stderr))
    total = re.search(r"Grand total\s+\d+\s+(\S+)", stdout + stderr)
    changed = int(total.group(1)) if total and total.group(1).isdigit() else 0
    fetched, served = proxy_traffic(mark, clients)
    return Converge(took, sum(per_host.values()) / max(len(per_host), 1), changed, usage.ru_maxrss / 1024,
                    fetched, served, phases(lines, took))


def phases(lines: list[tuple[float, str]], end: float) -> list[tuple[str, float]]:
    """pyinfra's phases and operations with the seconds until the next one began (operations run one after the
    other, each on every host at once, or a batch at a time)."""
    marks = [(at, match.group(2) or match.group(1)) for at, line in lines if (match := PHASE.match(line))]
    marks.insert(0, (0.0, "Loading config and inventory"))
    return [(name, (marks[i + 1][0] if i + 1 < len(marks) else end) - at) for i, (at, name) in enumerate(marks)]


def bench_fleet(size: int, label: str) -> LocalFleet:
    lab = LocalFleet(label, size, release="trixie")
    lab.down()
    lab.up()
    return lab


def fleet_folder(lab: LocalFleet) -> Path:
    groups = {"exits": {r.name: {"nickname": f"bench{i}"} for i, r in enumerate(lab.relays, 1)}}
    # unbound on bench relays asks the lab's resolver on their network (it forwards nothing), never the root
    group_data = {"all": {**GROUP_DATA["all"], "dns_forwarders": [lab.resolver]}}
    return write_fleet_folder(Path(tempfile.mkdtemp(prefix="exitkit-bench-")), lab.name,
                              lab_inventory(lab, groups), group_data)


def measure(size: int, name: str, cold: bool = False,
            logs: Path | None = None) -> tuple[Converge, Converge, Converge]:
    """Floor, first converge and no-op on fresh relays of one size (the floor on relays of its own); with ``cold``
    the floor and the first converge each start from an empty proxy cache; ``logs`` keeps each run's timed debug
    log there."""
    def log(run: str) -> Path | None:
        return logs / f"{size}-{run}.log" if logs else None

    lab = bench_fleet(size, name)
    try:
        if cold:
            empty_apt_cache()
        floor = timed_pyinfra(fleet_folder(lab), FLOOR, [r.address for r in lab.relays], log("floor"))
    finally:
        lab.down()
    lab = bench_fleet(size, name)
    try:
        inventory = fleet_folder(lab)
        if cold:
            empty_apt_cache()
        first = timed_pyinfra(inventory, DEPLOY, [r.address for r in lab.relays], log("first"))
        again = timed_pyinfra(inventory, DEPLOY, [r.address for r in lab.relays], log("noop"))
    finally:
        lab.down()
    return floor, first, again


def table(rows: list[tuple[int, Converge, Converge, Converge]]) -> str:
    out = ["| relays | package floor | first converge | × floor | commands/host | peak MB | apt cache (floor / first) "
           "| no-op | commands/host | no-op changes |",
           "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for size, floor, first, again in rows:
        out.append(f"| {size} | {floor.seconds:.1f} s | {first.seconds:.1f} s | {first.seconds / floor.seconds:.1f}× "
                   f"| {first.commands:.0f} | {max(first.peak_mb, again.peak_mb):.0f} | {floor.cache} / {first.cache} "
                   f"| {again.seconds:.1f} s | {again.commands:.0f} | {again.changes} |")
    return "\n".join(out)


def write_readme(text: str, readme: Path = PROJECT / "README.md") -> None:
    content = readme.read_text()
    if README_START not in content or README_END not in content:
        raise SystemExit(f"{readme} has no bench markers ({README_START} ... {README_END})")
    head, rest = content.split(README_START, 1)
    readme.write_text(f"{head}{README_START}\n{text}\n{README_END}{rest.split(README_END, 1)[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,3,10", help="relay counts, e.g. 1,3,10,25")
    parser.add_argument("--name", default="bench", help="lab fleet name (its slot: EXITKIT_LAB_SLOTS)")
    parser.add_argument("--cold", action="store_true",
                        help="empty the apt proxy's cache before each floor and first converge (run alone)")
    parser.add_argument("--timings", action="store_true", help="where each first converge's time went")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    parser.add_argument("--logs", type=Path, help="keep each run's timed pyinfra --debug log in this folder")
    args = parser.parse_args()
    rows = []
    with held_apt_cache() if args.cold else contextlib.nullcontext():
        for size in (int(s) for s in args.sizes.split(",")):
            floor, first, again = measure(size, args.name, args.cold, args.logs)
            rows.append((size, floor, first, again))
            if args.timings:
                print(f"\n{size} relays, first converge {first.seconds:.1f} s (floor {floor.seconds:.1f} s):")
                for phase, seconds in sorted(first.phases, key=lambda p: -p[1])[:15]:
                    print(f"  {seconds:6.1f} s  {phase}")
    print(table(rows))
    if args.readme:
        write_readme(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
