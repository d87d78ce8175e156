"""The deploy helpers' decisions, checked without any relay.

As pyinfra tests its own operations: a State over an inventory of fake hosts,
the operation's generator run for one host, and the commands it yields compared.
The fake hosts are pyinfra's ``@fake`` connector, which answers each fact's real
command with the output a relay would print, so the facts' parsers run too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyinfra.api import Config, FileUploadCommand, FunctionCommand, Inventory, State, StringCommand
from pyinfra.api.connect import connect_all
from pyinfra.context import ctx_host, ctx_state

from deploys.ops import _plan as plan_reads
from deploys.ops import _units as units_operation
from deploys.ops import checked_file, checked_files, fetch_secret, ready_command
from deploys.release import OsReleaseText
from deploys.resolver import ResolverUnitStates
from deploys.reverse_dns import PublicAddresses
from deploys.tor import TorRelayState
from exitkit import tor
from exitkit.configfile import ConfigFile
from exitkit.releases import DEBIAN_13, release_of
from exitkit.remote import Folder, WantedUnit
from exitkit.resolver import UNITS_COMMAND
from exitkit.units import UnitState
from tests.unit.test_releases import DEBIAN_11_TEXT, DEBIAN_13_TEXT

RELAY = "@fake/relay-1"
DEST = "/etc/lighttpd/lighttpd.conf"
NEW = DEST + ".exitkit-new"
CONFIG = "server.port = 80\n"




def sha1_line(content: str | bytes, path: str) -> str:
    """What sha1sum prints for pyinfra's Sha1File fact."""
    data = content.encode() if isinstance(content, str) else content
    return f"{hashlib.sha1(data).hexdigest()}  {path}"


def existing_file(path: str, content: str | bytes, mode: str = "644", user: str = "root",
                  group: str = "root") -> dict:
    """Fake responses of a relay that has ``content`` at ``path`` (the kit's FileStates and pyinfra's FileContents
    facts), as the real commands print them."""
    text = content.decode() if isinstance(content, bytes) else content
    sha1 = hashlib.sha1(text.encode()).hexdigest()
    return {
        re.compile(rf"^for p in .*{re.escape(shlex.quote(path))}[ ;]"): [f"file {mode}:{user}:{group} {sha1} {path}"],
        re.compile(rf"\bcat {re.escape(path)}"): text.splitlines(),
    }


@contextmanager
def fake_relay(responses: dict | None = None, diff: bool = False):
    """One connected fake relay answering commands with ``responses`` (pyinfra's @fake connector), in context."""
    data = {"fake_responses": responses or {}, "fake_delay": 0, "fake_delay_jitter": 0}
    inventory = Inventory(([(RELAY, data)], {}))
    state = State(inventory, Config(DIFF=diff, TEMP_DIR="/tmp"))
    connect_all(state)
    relay = inventory.get_host(RELAY)
    with ctx_state.use(state), ctx_host.use(relay):
        yield relay


def commands(operation, **arguments) -> list:
    """The commands an operation yields for the relay in context (its generator, as pyinfra's own tests run it)."""
    return list(operation._inner(**arguments))


def shell(command_list: list) -> list[str]:
    """The shell text of each StringCommand (uploads and functions are checked by type)."""
    return [command.get_raw_value() for command in command_list if isinstance(command, StringCommand)]


# ------------------------------------------------------------------ checked_file
def test_checked_file_with_unchanged_content_and_metadata_does_nothing():
    with fake_relay(existing_file(DEST, CONFIG)):
        assert commands(checked_file, content=CONFIG, dest=DEST, check="lighttpd -tt -f {path}") == []


def test_checked_file_uploads_beside_checks_then_renames():
    with fake_relay(existing_file(DEST, "server.port = 8080\n")):
        yielded = commands(checked_file, content=CONFIG, dest=DEST, check="lighttpd -tt -f {path}")
    upload = yielded[0]
    assert isinstance(upload, FileUploadCommand)
    assert upload.dest == NEW and upload.src.getvalue() == CONFIG.encode()
    assert shell(yielded) == [
        f"chown root:root {NEW} && chmod 644 {NEW} && "
        f"{{ lighttpd -tt -f {NEW} || {{ rc=$?; rm -f {NEW}; exit $rc; }}; }} && mv -f {NEW} {DEST}",
    ]


def test_checked_file_creates_a_missing_file_the_same_way():
    with fake_relay():
        yielded = commands(checked_file, content=CONFIG, dest=DEST, check="lighttpd -tt -f {path}")
    assert isinstance(yielded[0], FileUploadCommand)
    assert shell(yielded)[-1].endswith(f" && mv -f {NEW} {DEST}")


def test_checked_file_without_a_check_still_replaces_by_rename():
    with fake_relay():
        assert shell(commands(checked_file, content=CONFIG, dest=DEST)) == [
            f"chown root:root {NEW} && chmod 644 {NEW} && mv -f {NEW} {DEST}"]


def test_checked_file_fixes_only_owner_and_mode_when_the_content_is_right():
    key = "/var/lib/tor/keys/fleet.secret_family_key"
    with fake_relay(existing_file(key, b"key", mode="644", user="root", group="root")):
        yielded = commands(checked_file, content=b"key", dest=key, mode=600, user="debian-tor", group="debian-tor",
                           secret=True)
    assert shell(yielded) == [f"chown debian-tor:debian-tor {key} && chmod 600 {key}"]


def test_checked_file_in_place_overwrites_the_target_instead_of_renaming():
    """A container engine bind-mounts /etc/resolv.conf: a rename over it would fail, so it is written through."""
    resolv = "/etc/resolv.conf"
    new = resolv + ".exitkit-new"
    with fake_relay(existing_file(resolv, "nameserver 10.88.0.1\n")):
        yielded = shell(commands(checked_file, content="nameserver 127.0.0.1\n", dest=resolv, in_place=True))
    assert yielded[-1].endswith(f" && {{ [ ! -L {resolv} ] || rm -f {resolv}; }} && cat {new} > {resolv} "
                                f"&& rm -f {new}")
    assert "mv " not in yielded[-1]


def test_checked_file_quotes_paths_for_the_shell():
    odd = "/etc/exit kit/a.conf"
    with fake_relay():
        yielded = shell(commands(checked_file, content=CONFIG, dest=odd, check="check {path}"))
    assert f"{{ check {shlex.quote(odd + '.exitkit-new')} || " \
           f"{{ rc=$?; rm -f {shlex.quote(odd + '.exitkit-new')}; exit $rc; }}; }}" in yielded[-1]
    assert yielded[-1].endswith(f"mv -f {shlex.quote(odd + '.exitkit-new')} {shlex.quote(odd)}")


@pytest.fixture
def pyinfra_log(caplog):
    """Everything pyinfra logs (a diff goes to its logger), whatever its own level and handlers."""
    caplog.set_level(logging.DEBUG, logger="pyinfra")
    logging.getLogger("pyinfra").addHandler(caplog.handler)
    yield caplog
    logging.getLogger("pyinfra").removeHandler(caplog.handler)


def test_checked_file_shows_a_diff_of_an_ordinary_config(pyinfra_log):
    with fake_relay(existing_file(DEST, 'server.document-root = "/srv/old"\n'), diff=True):
        commands(checked_file, content=CONFIG, dest=DEST)
    assert "/srv/old" in pyinfra_log.text and CONFIG.strip() in pyinfra_log.text


def test_checked_file_never_shows_a_secret(pyinfra_log):
    key = "/var/lib/tor/keys/fleet.secret_family_key"
    old, new = "OLD-SECRET-KEY-MATERIAL", "NEW-SECRET-KEY-MATERIAL"
    with fake_relay(existing_file(key, old), diff=True):
        yielded = commands(checked_file, content=new, dest=key, secret=True, mode=600)
    assert isinstance(yielded[0], FileUploadCommand)
    assert "secret: no diff shown" in pyinfra_log.text
    assert old not in pyinfra_log.text and new not in pyinfra_log.text
    assert not any(new in command or old in command for command in shell(yielded))


# ------------------------------------------------------------------ fetch_secret
KEY = "/var/lib/tor/keys/secret_id_key"


def test_fetch_secret_leaves_a_current_copy_alone(tmp_path):
    copy = tmp_path / "secret_id_key"
    copy.write_bytes(b"identity")
    with fake_relay({"sha1sum": sha1_line(b"identity", KEY)}):
        assert commands(fetch_secret, src=KEY, dest=str(copy)) == []


@pytest.mark.parametrize("copy_content", [None, b"an older identity"], ids=["no copy yet", "copy differs"])
def test_fetch_secret_downloads_at_run_time_otherwise(tmp_path, copy_content):
    """The download is a function run during execution: the key never passes through a shell command."""
    copy = tmp_path / "secret_id_key"
    if copy_content is not None:
        copy.write_bytes(copy_content)
    with fake_relay({"sha1sum": sha1_line(b"identity", KEY)}):
        yielded = commands(fetch_secret, src=KEY, dest=str(copy))
    assert len(yielded) == 1 and isinstance(yielded[0], FunctionCommand)
    assert yielded[0].args == (KEY, str(copy))


# ------------------------------------------------------------------ ready_command
def test_ready_command_waits_for_every_service_and_the_page():
    command = ready_command(["tor@default.service", "tor@i2.service"], 8080, 90)
    loop = shlex.split(command)
    assert loop[:2] == ["bash", "-c"] and len(loop) == 3
    assert "systemctl is-active -q tor@default.service tor@i2.service" in loop[2]
    assert "/dev/tcp/127.0.0.1/8080" in loop[2]
    assert "+ 90 ))" in loop[2]
    assert "the notice page on 127.0.0.1:8080 did not answer 200" in loop[2]


def test_ready_command_is_valid_bash_inside_and_out():
    command = ready_command(["tor@default.service"], 80, 5)
    outer = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
    assert outer.returncode == 0, outer.stderr
    inner = subprocess.run(["bash", "-n", "-c", shlex.split(command)[2]], capture_output=True, text=True)
    assert inner.returncode == 0, inner.stderr


# ------------------------------------------------------------------ facts' parsers
FINGERPRINT_A, FINGERPRINT_B = "A" * 40, "B" * 40


def tor_state(lines: list[str]) -> tor.TorState:
    """TorRelayState as the deploy reads it: its real command, answered by the relay's ``lines``."""
    with fake_relay({tor.STATE_COMMAND: lines}) as relay:
        return relay.get_fact(TorRelayState)


def test_tor_relay_state_of_a_running_two_instance_relay():
    state = tor_state([
        f"/var/lib/tor/fingerprint: exitkit1 {FINGERPRINT_A}",
        f"/var/lib/tor-instances/i2/fingerprint: exitkit12 {FINGERPRINT_B}",
        f"/run/exitkit/tor@default.applied: {'1' * 40}  /etc/tor/torrc",
        f"/run/exitkit/tor@i2.applied: {'2' * 40}  /etc/tor/instances/i2/torrc",
        "tor@default: loaded",
    ])
    assert state.fingerprints == {"/var/lib/tor": FINGERPRINT_A, "/var/lib/tor-instances/i2": FINGERPRINT_B}
    assert state.applied == {"default": "1" * 40, "i2": "2" * 40}
    assert state.default_unit == UnitState.PRESENT


def test_tor_relay_state_of_a_relay_whose_tor_is_masked_and_has_no_keys_yet():
    state = tor_state(["tor@default: masked"])
    assert (state.fingerprints, state.applied, state.default_unit) == ({}, {}, UnitState.MASKED)


def test_tor_relay_state_ignores_a_fingerprint_file_being_written():
    state = tor_state(["/var/lib/tor/fingerprint: ", "tor@default: loaded"])
    assert state.fingerprints == {}


@pytest.mark.parametrize("release", ["debian-12", "debian-13"])
def test_tor_relay_state_of_a_relay_without_tor_reads_as_not_installed(release):
    """tor_relay masks tor@default before installing tor only when the unit reads as absent.

    ``systemctl is-enabled`` of a missing unit printed nothing on Debian 12 and
    ``not-found`` on Debian 13, which once read as a state and let Debian's package
    start tor with its own torrc; ``systemctl show -p LoadState --value`` prints
    ``not-found`` on both, which is what the state command reads now.
    """
    assert "is-enabled" not in tor.STATE_COMMAND
    assert "systemctl show -p LoadState --value tor@default.service" in tor.STATE_COMMAND
    assert tor_state(["tor@default: not-found"]).default_unit == UnitState.ABSENT


def test_tor_relay_state_reads_the_same_whatever_systemctl_cannot_answer():
    """No LoadState at all (systemctl failed): masked first, the safe side."""
    assert tor_state(["tor@default: "]).default_unit == UnitState.ABSENT


# what each release's systemctl prints for unbound and systemd-resolved, before and after the kit
RESOLVER_UNITS = {
    "not installed": (["unbound: not-found", "systemd-resolved: inactive"], UnitState.ABSENT, False),
    "masked before install": (["unbound: masked", "systemd-resolved: inactive"], UnitState.MASKED, False),
    "installed, resolved running": (["unbound: loaded", "systemd-resolved: active"], UnitState.PRESENT, True),
    "systemctl answered nothing": (["unbound: ", "systemd-resolved: "], UnitState.ABSENT, False),
}


@pytest.mark.parametrize("release", ["debian-12", "debian-13"])
@pytest.mark.parametrize("case", list(RESOLVER_UNITS))
def test_resolver_unit_states_read_the_same_on_both_releases(case, release):
    """The resolver masks unbound before installing it when absent and unmasks it when masked, as tor does."""
    lines, unbound, resolved = RESOLVER_UNITS[case]
    assert "is-enabled" not in UNITS_COMMAND
    with fake_relay({UNITS_COMMAND: lines}) as relay:
        units = relay.get_fact(ResolverUnitStates)
    assert (units.unbound, units.resolved_active) == (unbound, resolved)


def test_os_release_fact_of_a_debian_13_relay():
    with fake_relay({"/etc/os-release": DEBIAN_13_TEXT.splitlines()}) as relay:
        assert release_of(relay.get_fact(OsReleaseText)) is DEBIAN_13


def test_os_release_fact_of_a_machine_without_os_release_is_no_release():
    with fake_relay() as relay:
        assert relay.get_fact(OsReleaseText).describe() == "an unknown system (no /etc/os-release)"


IP_JSON = [
    {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536, "operstate": "UNKNOWN",
     "addr_info": [
         {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo",
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host", "noprefixroute": True,
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295}]},
    {"ifindex": 2, "ifname": "eth0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500,
     "operstate": "UP", "addr_info": [
         {"family": "inet", "local": "185.220.101.4", "prefixlen": 24, "broadcast": "185.220.101.255",
          "scope": "global", "label": "eth0", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet", "local": "10.0.0.4", "prefixlen": 8, "scope": "global", "secondary": True,
          "label": "eth0", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "2a0b:f4c2:2::4", "prefixlen": 64, "scope": "global",
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "2a0b:f4c2:2:0:8d3c:1f2e:aa01:7c21", "prefixlen": 64, "scope": "global",
          "temporary": True, "dynamic": True, "valid_life_time": 86000, "preferred_life_time": 14000},
         {"family": "inet6", "local": "fe80::216:3eff:fe12:3456", "prefixlen": 64, "scope": "link",
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295}]},
]


def test_public_addresses_of_a_relay_keep_only_what_a_complainant_sees():
    """``ip -j addr`` prints one line of JSON; private, loopback, link-local and temporary addresses are left out."""
    with fake_relay({"ip -j addr": json.dumps(IP_JSON)}) as relay:
        assert relay.get_fact(PublicAddresses) == ["185.220.101.4", "2a0b:f4c2:2::4"]


def test_public_addresses_of_a_relay_with_only_private_addresses_are_none():
    private = [{**IP_JSON[1], "addr_info": IP_JSON[1]["addr_info"][1:2]}]
    with fake_relay({"ip -j addr": json.dumps(private)}) as relay:
        assert relay.get_fact(PublicAddresses) == []


# ------------------------------------------------------------------ a relay of another release
DEPLOY = "deploys/exit.py"


def test_a_relay_of_another_release_fails_on_one_operation_and_nothing_else_is_planned_or_run(capsys):
    """The whole deploy file prepared for a Debian 11 relay: one operation, which fails with the message that the
    fleet summary shows; the only command the relay ever ran before it is the os-release read."""
    from pyinfra.api.connect import disconnect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops

    from deploys.release import refusal
    from exitkit.releases import parse_os_release
    from exitkit.summary import HEADER, wrap_item

    old = "@fake/relay-old"
    message = refusal(old, parse_os_release(DEBIAN_11_TEXT))
    assert message == (f"{old} runs Debian GNU/Linux 11 (bullseye); nothing was changed "
                       "(exitkit supports Debian 13 trixie, Debian 12 bookworm)")
    fails = {"success": False, "stderr": [message]}  # as the shell text below is shown to fail
    data = {"fake_responses": {"/etc/os-release": DEBIAN_11_TEXT.splitlines(), re.compile(r">&2; exit 1$"): fails},
            "fake_delay": 0, "fake_delay_jitter": 0, "nickname": "exitkitold", "network": "tor"}
    state = State(Inventory(([(old, data)], {})), Config(TEMP_DIR="/tmp"))
    connect_all(state)
    relay = state.inventory.get_host(old)
    with ctx_state.use(state):
        state.current_deploy_filename = DEPLOY  # as pyinfra's command loads a deploy file for each host
        with ctx_host.use(relay):
            exec(compile(Path(DEPLOY).read_text(), DEPLOY, "exec"), {"__file__": DEPLOY})
        (op_hash,) = [op for op in state.get_op_order() if op in state.ops[relay]]
        assert state.get_op_meta(op_hash).names == {"Supported release | Debian 13 or 12 required"}
        assert relay.connector.executed_commands == [
            "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true"]

        # the operation's own shell text, run here: the message on stderr, exit 1
        with ctx_host.use(relay):
            (command,) = shell(list(state.ops[relay][op_hash].command_generator()))
        ran = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        assert (ran.returncode, ran.stdout, ran.stderr) == (1, "", message + "\n")

        with pytest.raises(PyinfraError, match="No hosts remaining"):
            run_ops(state)
        disconnect_all(state)
    err = capsys.readouterr().err
    summary_text = err[err.index(HEADER):]
    # the summary's item, wrapped at its width: what was found and that nothing changed, whole
    item = wrap_item(f"failed: Debian 13 or 12 required: {message}")
    assert len(item) > 1 and "\n".join(item) in summary_text
    assert "1 relay: 0 changed, 0 unchanged, 1 failed. NOT CONVERGED" in summary_text


# ------------------------------------------------------------------ a run's files and units, read once
UNIT_FILE = "/etc/systemd/system/exitkit-exit-policy.service"
RULESET = "/etc/exitkit/exit-policy.nft"
SHOW_MASKED = {re.compile(r"^systemctl show --property LoadState,ActiveState,UnitFileState -- unbound.service"):
               ["LoadState=masked", "ActiveState=inactive", "UnitFileState=masked"]}


def test_a_masked_unit_is_started_once_with_its_configuration_in_one_command():
    """unbound's first converge: unmasked, enabled, systemd reloaded once, started; never restarted after."""
    with fake_relay(SHOW_MASKED):
        yielded = shell(commands(units_operation, wanted=[WantedUnit("unbound.service")], restart=lambda: True,
                                 reload=None, fresh=None))
    assert yielded == ["systemctl unmask --no-reload unbound.service && systemctl enable --no-reload unbound.service"
                       " && systemctl daemon-reload && systemctl start unbound.service"]


def test_files_of_one_operation_are_read_in_one_command_and_a_unit_file_reloads_systemd_once(caplog):
    files = [ConfigFile(RULESET, "table inet exitkit {}\n", check="nft -c -f {path}"),
             ConfigFile(UNIT_FILE, "[Service]\nType=oneshot\n")]
    running = {re.compile(r"^systemctl show --property"): ["LoadState=loaded", "ActiveState=active",
                                                           "UnitFileState=enabled"]}
    with fake_relay({**existing_file(RULESET, "table inet exitkit { }\n"), **running}) as relay:
        plan_reads(paths=["/etc/exitkit", RULESET, UNIT_FILE], units=["exitkit-exit-policy.service"])
        written = commands(checked_files, files=files, folders=[Folder("/etc/exitkit", mode=755)])
        reads = [c for c in relay.connector.executed_commands if c.startswith("for p in ")]
        after = shell(commands(units_operation, wanted=[WantedUnit("exitkit-exit-policy.service")],
                               restart=None, reload=None, fresh=None))
    assert len(reads) == 1 and all(shlex.quote(p) in reads[0] for p in ("/etc/exitkit", RULESET, UNIT_FILE))
    uploads = [c for c in written if isinstance(c, FileUploadCommand)]
    assert [u.dest for u in uploads] == [RULESET + ".exitkit-new", UNIT_FILE + ".exitkit-new"]
    assert shell(written)[0] == "mkdir -p /etc/exitkit && chmod 755 /etc/exitkit"  # the file answer said no folder
    assert after == ["systemctl daemon-reload"]  # the unit file changed; the unit runs and is enabled
