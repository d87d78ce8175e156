"""The real pyinfra command line stops on bad settings before it contacts any host.

Each case writes a fleet folder in tmp_path (inventory/<fleet>.yml and .py, group_data
YAML with its .py loaders), points its hosts at 127.0.0.1 on a local port that a
listening socket watches, and runs ``pyinfra -y inventory/<fleet>.py deploys/exit.py``
from that folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PYINFRA = REPO / ".venv" / "bin" / "pyinfra"
DEPLOY = REPO / "deploys" / "exit.py"
FLEET = "testcli"
INV = f"inventory/{FLEET}.yml"
INVALID = "exitkit: the fleet settings are not valid; no host was contacted."

pytestmark = pytest.mark.skipif(not PYINFRA.exists(), reason="needs the project's .venv with pyinfra")


def _one_liner(relative: str) -> str:
    return (REPO / relative).read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Listener:
    """A listening socket on a free local port that records every connection made to it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener():
    watcher = Listener()
    yield watcher
    watcher.close()


def write_fleet(root: Path, inventory: dict, groups: dict[str, dict]) -> None:
    (root / "inventory").mkdir()
    (root / "group_data").mkdir()
    (root / "inventory" / f"{FLEET}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    (root / "inventory" / f"{FLEET}.py").write_text(_one_liner("inventory/demo.py"), encoding="utf-8")
    loader = _one_liner("group_data/all.py")
    for name, data in groups.items():
        (root / "group_data" / f"{name}.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        (root / "group_data" / f"{name}.py").write_text(loader, encoding="utf-8")


def run_pyinfra(root: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYINFRA", "PYTEST"))}
    env["HOME"] = str(root)  # no operator ~/.ssh config or keys in play
    return subprocess.run([str(PYINFRA), "-y", f"inventory/{FLEET}.py", str(DEPLOY), *extra],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def relay(nickname: str, port: int, **more) -> dict:
    return {"nickname": nickname, "ssh_hostname": "127.0.0.1", "ssh_port": port, **more}


def fleet_for(port: int) -> tuple[dict, dict]:
    inventory = {"exits": {"r1": relay("cliexit1", port), "r2": relay("cliexit2", port)}}
    groups = {
        "all": {"operator_name": "CLI Test Collective", "abuse_email": "abuse@example.org", "domain": "example.org"},
        FLEET: {"test_network_off": True, "ssh_user": "root", "ssh_connect_retries": 0},
        "exits": {"network": "tor", "exit_policy": "tor-reduced"},
    }
    return inventory, groups


def _typo_key(inventory, groups):
    inventory["exits"]["r1"]["abuse_emial"] = "x@example.org"
    return (f"{INV}: host 'r1', key 'abuse_emial': got 'x@example.org'; "
            "expected a known setting: did you mean 'abuse_email'?")


def _missing_contact(inventory, groups):
    del groups["all"]["abuse_email"]
    return (f"{INV}: host 'r1', key 'abuse_email': not set; expected a value such as 'abuse@example.org'",
            "set it on the host, or in group_data/<group>.yml of one of its groups (exits, testcli, all)")


def _duplicate_nickname(inventory, groups):
    inventory["exits"]["r2"]["nickname"] = "CLIEXIT1"
    return (f"{INV}: host 'r2', key 'nickname': got 'CLIEXIT1'; "
            "expected a nickname unique in the fleet; host 'r1' has it too")


def _bad_policy_preset(inventory, groups):
    groups["exits"]["exit_policy"] = "tor-reducd"
    return ("group_data/exits.yml: group 'exits', key 'exit_policy': got 'tor-reducd'; "
            "expected one of: tor-reduced, tor-default, web, reject-all, custom")


@pytest.mark.parametrize("spoil", [_typo_key, _missing_contact, _duplicate_nickname, _bad_policy_preset],
                         ids=["typo-key", "missing-contact", "duplicate-nickname", "bad-policy-preset"])
def test_bad_setting_stops_pyinfra_before_any_connection(tmp_path, listener, spoil):
    inventory, groups = fleet_for(listener.port)
    expected = spoil(inventory, groups)
    expected = (expected,) if isinstance(expected, str) else expected
    write_fleet(tmp_path, inventory, groups)

    result = run_pyinfra(tmp_path)
    output = result.stdout + result.stderr

    assert result.returncode == 2, output
    assert INVALID in result.stderr, output
    for text in expected:
        assert text in result.stderr, output
    assert "Traceback" not in output, output
    assert "Connecting to hosts" not in output and "Connected" not in output, output
    assert listener.connections == 0, "pyinfra contacted a host although the settings are invalid"


def test_bad_setting_in_dry_run_also_stops(tmp_path, listener):
    inventory, groups = fleet_for(listener.port)
    expected = _typo_key(inventory, groups)
    write_fleet(tmp_path, inventory, groups)
    result = run_pyinfra(tmp_path, "--dry")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert expected in result.stderr, output
    assert "Connecting to hosts" not in output, output
    assert listener.connections == 0


def test_valid_fleet_passes_validation_then_fails_to_connect(tmp_path):
    port = free_port()  # closed again: nothing listens there
    inventory, groups = fleet_for(port)
    write_fleet(tmp_path, inventory, groups)

    result = run_pyinfra(tmp_path, "--dry")
    output = result.stdout + result.stderr

    assert INVALID not in output, output
    assert "exitkit:" not in output and "expected" not in output, output
    assert "Connecting to hosts" in output, output  # validation passed: pyinfra went on to connect
    assert "Could not connect" in output or "No hosts remaining" in output, output
    assert result.returncode not in (0, 2), output


def test_listener_sees_pyinfra_when_settings_are_valid(tmp_path, listener):
    """Control for the cases above: the watching socket does notice pyinfra connecting."""
    inventory, groups = fleet_for(listener.port)
    write_fleet(tmp_path, inventory, groups)
    result = run_pyinfra(tmp_path, "--dry")
    output = result.stdout + result.stderr
    assert INVALID not in output, output
    assert "Connecting to hosts" in output, output
    assert listener.connections >= 1, output
