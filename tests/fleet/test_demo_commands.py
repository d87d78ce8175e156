"""The README's commands, typed by a newcomer from the repository's root, on the converged demo fleet.

`python -m exitkit.lab demo` brings up the demo (relays exitkit-demo-1..3 and
the dnsmasq on 127.0.0.1 that answers its reverse DNS), each command runs in a
shell as typed, and `python -m exitkit.lab down --name demo` removes it all.
The commands ask only the relays on the demo's internal network and the demo's dnsmasq.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from exitkit.lab.demo import DEMO, DNS

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # where ./kit setup puts the exitkit command


@dataclass(frozen=True)
class Typed:
    """A command line as the README shows it, and the exit code it documents on the converged demo."""

    line: str
    exit_code: int = 0
    says: str = ""  # a piece of its stdout


COMMANDS = [
    Typed("exitkit check inventory/demo.py", says="relay-2: nym exitkitdemo2 nym-exit-1.example.org ok"),
    Typed("exitkit policy inventory/demo.py relay-1", says="### relay-1: nftables"),
    *[Typed(f"exitkit policy inventory/demo.py relay-2 --form {form}", says=f"### relay-2: {form}")
      for form in ("torrc", "nym", "nftables", "summary")],
    Typed("exitkit policy inventory/demo.py relay-1 --exits-to 198.51.100.7:443", says="EXITS"),
    Typed("exitkit policy inventory/demo.py relay-2 --exits-to 198.51.100.7:443", 1, says="ticket 4711"),
    Typed("exitkit schedule inventory/demo.py", says="Europe/Berlin"),
    Typed("exitkit render inventory/demo.py --out {out}/rendered", says="relay-3: "),
    Typed("exitkit render inventory/demo.py --out {out}/one --relay relay-2", says="relay-2: "),
    Typed("exitkit rdns inventory/demo.py", says="every address is clean"),
    Typed("exitkit rdns inventory/demo.py --zone", says="nym-exit-1.example.org. 3600 IN A 192.0.2.12"),
    Typed("exitkit rdns inventory/demo.py --json", says='"verdict": "ok"'),
    Typed("exitkit outside inventory/demo.py", says=DEMO.relay(3).notice_url),
    Typed("exitkit outside inventory/demo.py --json", says='"ok": true'),
    Typed("exitkit verify inventory/demo.py", says="## Reverse DNS (advice)"),
    Typed("exitkit verify inventory/demo.py --json", says='"ok": true'),
    Typed("exitkit verify inventory/demo.py --strict", says="## Reverse DNS\n"),
    Typed("exitkit complaint inventory/demo.py examples/complaint.eml", says="relay-2 (nym, exitkitdemo2), address"),
    Typed("exitkit complaint inventory/demo.py examples/complaint.eml --json", says='"kind": "scanning"'),
    Typed("exitkit complaint inventory/demo.py examples/complaint.eml --draft {out}/drafts", says="relay-2 (nym"),
    # --dry: the demo fleet's files are the repository's own, so the demo shows the diff and writes nothing
    Typed("exitkit block inventory/demo.py 203.0.113.9:443 --note 'ticket 12' --expires 2099-12-31 --dry",
          says="+  - rule: reject 203.0.113.9:443"),
    Typed("exitkit block inventory/demo.py --prune-expired --dry", says="nothing to change: no expired entry"),
    Typed("exitkit dnsbl inventory/demo.py", says="no address is listed"),
    Typed("exitkit dnsbl inventory/demo.py --json", says='"listed": 0'),
    Typed("exitkit settings-table", says="| `dns_check_resolver` |"),
    Typed("exitkit deploy-path", says="deploys/exit.py"),
]


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exitkit.lab", *args], cwd=PROJECT, text=True, capture_output=True,
                          check=False)


@pytest.fixture(scope="module")
def demo():
    """The converged demo fleet; removed afterwards, pass or fail (EXITKIT_KEEP_FLEET=1 leaves it up)."""
    try:
        up = lab("demo")
        assert up.returncode == 0, up.stderr[-4000:]
        for relay in DEMO.relays:
            assert f"  {relay.name}: {relay.notice_url}" in up.stdout, up.stdout
        yield
    finally:
        if os.environ.get("EXITKIT_KEEP_FLEET") != "1":
            down = lab("down", "--name", DEMO.name)
            assert down.returncode == 0, down.stderr
            assert DEMO.running() == {} and DNS.pid() is None


@pytest.mark.parametrize("typed", COMMANDS, ids=[typed.line for typed in COMMANDS])
def test_readme_command_on_the_demo(demo, typed: Typed, tmp_path):
    line = typed.line.format(out=tmp_path)
    result = subprocess.run(["bash", "-e", "-c", line], cwd=PROJECT, text=True, capture_output=True,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}, check=False)
    assert result.returncode == typed.exit_code, (line, result.stdout[-3000:], result.stderr[-3000:])
    assert typed.says in result.stdout, (line, result.stdout[-3000:])
    if "--json" in line:
        json.loads(result.stdout)


def test_the_readme_shows_these_commands():
    """Every exitkit sub-command the README's command table lists is run above."""
    readme = (PROJECT / "README.md").read_text()
    listed = set(re.findall(r"^\| `exitkit ([\w-]+)", readme, re.MULTILINE))
    assert listed == {typed.line.split()[1] for typed in COMMANDS}
