"""The kit's tor presets are what the relay's own tor makes of ReducedExitPolicy and of its default policy.

A fleet of its own: relay-1 Debian 13, relay-2 Debian 12, both converged as tor
exits with test_network_off. On each, a throw-away tor (its own DataDirectory
in /tmp, DisableNetwork 1, SocksPort 0, ORPort and ControlPort on 127.0.0.1
only) is asked over its control port for the policy it would publish
(GETINFO exit-policy/full), once with ``ReducedExitPolicy 1`` and once with no
ExitPolicy line (tor's default), and then stopped. A difference from the kit's
preset fails and names the ports.

tor answers exit-policy/full from its own descriptor, which it builds only in
callbacks that wait for the network, except one: at start it rotates an onion
key older than its lifetime and rebuilds the descriptor right away. The probe
writes a state file whose ``LastRotatedOnionKey`` is long past, so tor builds
its descriptor with DisableNetwork 1 and never publishes it. Nothing goes out:
DisableNetwork keeps tor off every connection but the control port, and the
relays are fenced anyway; at the end no tor journal and no probe log may show
tor reaching out.
"""

from __future__ import annotations

import re
import shlex

import pytest

from exitkit.lab.containers import LocalFleet
from exitkit.policy import TOR_PRESETS_FROM, build_policy, render_torrc
from tests.fleet.harness import TOR_REACHING_OUT, TestFleet, lab_fleet

pytestmark = pytest.mark.fleet

RELEASES = {"relay-1": "trixie", "relay-2": "bookworm"}
GROUPS = {"tor_exits": {"relay-1": {"nickname": "presetstest1", "public_ipv4": "192.0.2.71"},
                        "relay-2": {"nickname": "presetstest2", "public_ipv4": "192.0.2.72"}}}
GROUP_DATA = {"all": {"operator_name": "Test Exit Collective", "abuse_email": "abuse@example.net",
                      "domain": "example.net", "network": "tor", "test_network_off": True}}

PROBE_DIR = "/tmp/exitkit-preset-probe"
OR_PORT, CONTROL_PORT = 19051, 19052
# tor's options for the preset's probe: none is tor's default exit policy
PROBES = {"tor-reduced": ("ReducedExitPolicy 1",), "tor-default": ()}

# Run on the relay with bash: start tor, ask its control port (cookie auth) until the descriptor is
# built, stop tor, print tor's answer. Its log stays in the probe's folder for the fence check.
PROBE_SCRIPT = r"""
set -eu
d=$1; shift
rm -rf "$d"; mkdir -m 0700 "$d"
{
  printf '%s\n' "DataDirectory $d" "User debian-tor" "SocksPort 0" "DisableNetwork 1" \
    "PublishServerDescriptor 0" "AssumeReachable 1" "ORPort 127.0.0.1:{or_port}" "ExitRelay 1" \
    "ControlPort 127.0.0.1:{control_port}" "CookieAuthentication 1" "Log notice file $d/tor.log" \
    "PidFile $d/tor.pid" "RunAsDaemon 1"
  for line in "$@"; do printf '%s\n' "$line"; done
} > "$d/torrc"
# an onion key "rotated" long ago: tor rotates it at start and builds its descriptor without the network
printf 'LastRotatedOnionKey 2000-01-01 00:00:00\n' > "$d/state"
chown -R debian-tor: "$d"
tor -f "$d/torrc" --defaults-torrc /dev/null >/dev/null
answer=""
for _ in $(seq 60); do
  if [ -s "$d/control_auth_cookie" ]; then
    cookie=$(od -An -tx1 "$d/control_auth_cookie" | tr -d ' \n')
    exec 3<>/dev/tcp/127.0.0.1/{control_port}
    printf 'AUTHENTICATE %s\r\nGETINFO exit-policy/full\r\nQUIT\r\n' "$cookie" >&3
    answer=$(cat <&3); exec 3>&-
    case "$answer" in *"250+exit-policy/full="*) break ;; esac
  fi
  sleep 0.5
done
kill "$(cat "$d/tor.pid")"
for _ in $(seq 40); do kill -0 "$(cat "$d/tor.pid")" 2>/dev/null || break; sleep 0.25; done
printf '%s\n' "$answer"
""".replace("{or_port}", str(OR_PORT)).replace("{control_port}", str(CONTROL_PORT))

WILDCARD_RULE = re.compile(r"(accept|reject) \*:(\*|\d+(?:-\d+)?)")


def probe(fleet: TestFleet, relay: str, options: tuple[str, ...]) -> list[str]:
    """The lines of tor's GETINFO exit-policy/full with these options; fails with tor's log if it gave none."""
    folder = f"{PROBE_DIR}-{len(options)}"
    script = f"bash -c {shlex.quote(PROBE_SCRIPT)} probe {folder} {' '.join(shlex.quote(o) for o in options)}"
    out = fleet.exec(relay, "sh", "-c", script, check=False)
    lines = [line.rstrip("\r") for line in out.stdout.splitlines()]
    if "250+exit-policy/full=" not in lines:
        log = fleet.exec(relay, "cat", f"{folder}/tor.log", check=False).stdout
        pytest.fail(f"{relay}: tor gave no exit-policy/full: {out.stdout}{out.stderr}\n{log[-3000:]}")
    start = lines.index("250+exit-policy/full=") + 1
    return lines[start:lines.index(".", start)]


def accepted_ports(rules: list[tuple[str, int, int]]) -> set[int]:
    """Ports of a public IPv4 address that first-match over port-only rules accepts."""
    ports = set()
    for port in range(1, 65536):
        action = next((a for a, lo, hi in rules if lo <= port <= hi), "reject")
        if action == "accept":
            ports.add(port)
    return ports


def wildcard_rules(lines: list[str]) -> list[tuple[str, int, int]]:
    """The rules for every address (``*``): tor's preset; address rules (private ranges) and reject6 left out."""
    rules = []
    for line in lines:
        match = WILDCARD_RULE.fullmatch(line.removeprefix("ExitPolicy "))
        if match:
            action, ports = match.groups()
            lo, _, hi = ports.replace("*", "1-65535").partition("-")
            rules.append((action, int(lo), int(hi or lo)))
    return rules


def spans(ports: set[int]) -> str:
    out: list[list[int]] = []
    for port in sorted(ports):
        if out and port == out[-1][1] + 1:
            out[-1][1] = port
        else:
            out.append([port, port])
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in out)


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    with lab_fleet(LocalFleet("presets", 2, releases=RELEASES), tmp_path_factory.mktemp("presets"),
                   GROUPS, GROUP_DATA) as fleet:
        run = fleet.deploy()
        assert run.returncode == 0, run.stderr[-4000:]
        reports = {}
        for relay in RELEASES:
            said = fleet.exec(relay, "tor", "--version").stdout
            version = "tor " + re.search(r"\d+(?:\.\d+)+", said).group()  # type: ignore[union-attr]
            reports[relay] = (version, {preset: probe(fleet, relay, options) for preset, options in PROBES.items()})
        yield fleet, reports
        for relay in fleet.relays:  # the probes' own logs; lab_fleet reads the units' journals
            logs = fleet.exec(relay.name, "sh", "-c", f"cat {PROBE_DIR}-*/tor.log").stdout
            assert not [line for line in logs.splitlines() if TOR_REACHING_OUT.search(line)], relay.name


@pytest.mark.parametrize("relay", RELEASES)
@pytest.mark.parametrize("preset", PROBES)
def test_the_preset_opens_what_tor_opens(presets, relay, preset):
    _, reports = presets
    version, policies = reports[relay]
    tor = accepted_ports(wildcard_rules(policies[preset]))
    policy = build_policy(preset, [], ipv6_exit=False)
    kit = {port for port in range(1, 65536) if policy.allows("198.51.100.8", port)}
    problems = []
    if tor - kit:
        problems.append(f"{version} ({RELEASES[relay]}) opens {spans(tor - kit)}, which the kit's {preset} closes")
    if kit - tor:
        problems.append(f"the kit's {preset} opens {spans(kit - tor)}, which {version} ({RELEASES[relay]}) closes")
    assert not problems, "; ".join(problems) + f" (the kit's lists are tor {TOR_PRESETS_FROM}'s)"


@pytest.mark.parametrize("relay", RELEASES)
@pytest.mark.parametrize("preset", PROBES)
def test_the_torrc_lines_are_tor_s_own_rules_in_tor_s_order(presets, relay, preset):
    _, reports = presets
    version, policies = reports[relay]
    torrc = render_torrc(build_policy(preset, [], ipv6_exit=False)).splitlines()
    preset_lines = torrc[torrc.index(f"# preset {preset}") + 1:torrc.index("# everything else is rejected")]
    tor = wildcard_rules(policies[preset])
    kit = wildcard_rules(preset_lines)
    # tor ends its reduced policy with its own reject *:*; the kit's final reject is its own section
    assert kit == (tor[:-1] if tor[-1] == ("reject", 1, 65535) else tor), version


def test_tor_is_the_one_each_debian_release_ships(presets):
    _, reports = presets
    versions = {relay: version for relay, (version, _) in reports.items()}
    assert all(re.fullmatch(r"tor 0\.4\.9\.\d+", v) for v in versions.values()), versions
