"""The operator's CI workflow (examples/operator-ci.yml): it runs exactly the kit's commands, those
commands exist, and the ones that need no containers work here on a sample fleet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exitkit.lab.containers import LocalFleet
from exitkit.lab.rehearse import REHEARSAL, rehearsal_settings, write_rehearsal
from exitkit.loader import load_fleet
from exitkit.settings import RelaySettings

PROJECT = Path(__file__).resolve().parents[2]
WORKFLOW = PROJECT / "examples" / "operator-ci.yml"
INSTALL = ["./kit setup", 'echo "$PWD/.venv/bin" >> "$GITHUB_PATH"']
COMMANDS = {
    "validate": [*INSTALL, 'exitkit check "inventory/$FLEET.py"',
                 'exitkit render "inventory/$FLEET.py" --out rendered/'],
    "rehearse": [*INSTALL, 'python -m exitkit.lab rehearse "inventory/$FLEET.py"'],
}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def run_steps(job: str) -> list[str]:
    return [step["run"].strip() for step in workflow()["jobs"][job]["steps"] if "run" in step]


def sample_fleet(tmp_path: Path) -> Path:
    """The demo fleet as an operator's repository holds it."""
    (tmp_path / "inventory").mkdir(parents=True)
    for name in ("demo.yml", "demo.py"):
        shutil.copy(PROJECT / "inventory" / name, tmp_path / "inventory" / name)
    shutil.copytree(PROJECT / "group_data", tmp_path / "group_data")
    return tmp_path


def test_workflow_runs_exactly_the_kit_commands():
    for job, commands in COMMANDS.items():
        assert run_steps(job) == commands, job
    kit_steps = [s for s in workflow()["jobs"]["validate"]["steps"] if s.get("run") == "./kit setup"]
    assert kit_steps[0]["working-directory"] == "exitkit"  # the kit's own checkout
    assert workflow()["env"]["FLEET"]


def test_rehearsal_runs_only_where_it_can():
    jobs = workflow()["jobs"]
    assert jobs["validate"]["container"] == "debian:12"
    rehearse = jobs["rehearse"]
    assert rehearse["needs"] == "validate"
    assert {"self-hosted", "debian-12"} <= set(rehearse["runs-on"])
    assert "vars.EXITKIT_REHEARSE == 'true'" in rehearse["if"] and "pull_request" not in rehearse["if"]
    uploads = [s for s in jobs["validate"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "rendered/"


def test_each_command_exists():
    kit = subprocess.run(["./kit", "help"], cwd=PROJECT, text=True, capture_output=True)
    assert re.search(r"^#?\s*\./kit setup\b", kit.stdout, re.M), kit.stdout
    exitkit = subprocess.run([sys.executable, "-m", "exitkit", "--help"], text=True, capture_output=True).stdout
    lab = subprocess.run([sys.executable, "-m", "exitkit.lab", "--help"], text=True, capture_output=True).stdout
    listed = {"exitkit": re.search(r"\{([\w,-]+)\}", exitkit).group(1).split(","),
              "python -m exitkit.lab": re.search(r"\{([\w,-]+)\}", lab).group(1).split(",")}
    for command in sum(COMMANDS.values(), []):
        for program, subcommands in listed.items():
            if command.startswith(program + " "):
                assert command.removeprefix(program + " ").split()[0] in subcommands, command


def test_validation_and_rendering_steps_run_on_a_sample_fleet(tmp_path):
    """The workflow's own command lines, run by a shell from the fleet's folder as the runner does."""
    folder = sample_fleet(tmp_path)
    env = {**os.environ, "FLEET": "demo", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for command in COMMANDS["validate"][len(INSTALL):]:
        result = subprocess.run(["bash", "-e", "-c", command], cwd=folder, env=env, text=True, capture_output=True)
        assert result.returncode == 0, (command, result.stderr)
    assert sorted(p.name for p in (folder / "rendered").iterdir()) == \
        ["exitkit-render.json", "relay-1", "relay-2", "relay-3"]
    assert (folder / "rendered/relay-2/etc/exitkit/exit-policy.nft").read_text().startswith("#")


def test_validation_step_fails_on_invalid_settings(tmp_path):
    folder = sample_fleet(tmp_path)
    (folder / "group_data" / "all.yml").write_text(
        (folder / "group_data" / "all.yml").read_text().replace("log_lifetime_hours: 24", "log_lifetime_hours: 0"))
    env = {**os.environ, "FLEET": "demo", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-e", "-c", COMMANDS["validate"][2]], cwd=folder, env=env, text=True,
                            capture_output=True)
    assert result.returncode == 2 and "log_lifetime_hours" in result.stderr


def test_rehearsal_folder_is_the_fleet_on_lab_relays(tmp_path):
    folder = sample_fleet(tmp_path / "fleet")
    original = load_fleet(folder / "inventory" / "demo.py", cwd=folder)
    lab = LocalFleet("rehearse", len(original.relays))
    inventory = write_rehearsal(folder / "inventory" / "demo.py", lab, tmp_path / "rehearsal", cwd=folder)
    rehearsal = load_fleet(inventory, cwd=tmp_path / "rehearsal")
    assert rehearsal.name == REHEARSAL
    assert [r.name for r in rehearsal.relays] == [r.name for r in original.relays]
    forced = rehearsal_settings(lab)
    for i, (was, now) in enumerate(zip(original.relays, rehearsal.relays, strict=True), 1):
        assert now.groups == tuple(REHEARSAL if g == "demo" else g for g in was.groups)
        expected = RelaySettings.from_data({**vars(was.settings), **forced})
        assert now.settings == expected, now.name
        assert now.connection == lab.connection(lab.relay(i))  # never the real servers' ssh_* keys
    assert lab.slot == 3 and lab.resolver == "10.89.103.1"


def test_readme_shows_the_workflow_commands():
    """Once the README's CI section is in, its command block is the workflow's (the brief's one source)."""
    readme = (PROJECT / "README.md").read_text()
    if "exitkit render" not in readme:
        pytest.skip("README has no CI section yet")
    shown = [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", readme, re.S)
             if "exitkit.lab rehearse" in block for line in block.splitlines() if line.strip()]
    assert shown == COMMANDS["validate"] + COMMANDS["rehearse"][len(INSTALL):]
