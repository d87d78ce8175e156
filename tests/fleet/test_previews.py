"""Previews: `pyinfra inventory/<fleet>.py deploys/exit.py --dry --diff` shows each relay's changed files,
line by line, and touches nothing; the relays hold exactly what `exitkit render` writes."""

from __future__ import annotations

import re
import shlex

from exitkit import history
from exitkit.configs import ConfigFile, fleet_files
from exitkit.loader import fleet_dir
from exitkit.plan import plan_fleet

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BLOCK = re.compile(r"^ {4}\[(?P<relay>[^\]]+)\] Will (?:modify|create) (?P<path>/\S+)$")
HAND_EDIT = "# edited by hand on the relay"


def rendered(fleet) -> dict[str, dict[str, ConfigFile]]:
    """relay -> path -> file, as `exitkit render` makes them from the fleet folder as last written."""
    loaded = fleet.described()
    every = fleet_files(loaded, plan_fleet(loaded), fleet_dir(fleet.inventory))
    return {relay: {f.path: f for f in files} for relay, files in every.items()}


def diffs(stderr: str) -> dict[tuple[str, str], list[str]]:
    """(relay, path) -> the diff lines pyinfra printed for that file (without its indentation)."""
    blocks: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for line in ANSI.sub("", stderr).splitlines():
        start = BLOCK.match(line)
        if start:
            current = blocks.setdefault((start["relay"], start["path"]), [])
        elif current is not None and line.startswith(" " * 6):
            current.append(line[6:])
        else:
            current = None
    return blocks


def history_lines(fleet) -> list[str]:
    path = history.history_path(fleet.folder, fleet.lab.name)
    return path.read_text().splitlines() if path.exists() else []


def relay_content(fleet, relay: str, path: str) -> str:
    return fleet.host(relay).file(path).content_string


UPLOADED = re.compile(r"(/[^\s'\"]+)\.exitkit-new\b")


def uploaded(stderr: str) -> set[str]:
    """Every file a run replaced: each goes up as <path>.exitkit-new before it is checked and renamed."""
    return set(UPLOADED.findall(stderr))


def test_a_first_converge_uploads_exactly_what_render_writes(fleet, first_run):
    """render shows every file a real run writes (secrets aside: they are named, never rendered), and a
    run writes nothing render does not show. Files a container's engine owns are rendered, not written."""
    seen = uploaded(first_run.stderr)
    secrets = {path for path in seen if path.endswith("secret_family_key")}
    written_by_render = {path for files in rendered(fleet).values() for path, file in files.items()
                         if file.in_containers}
    assert seen - secrets == written_by_render
    assert secrets, "the tor relays got their family key"


def test_relays_hold_exactly_what_render_writes(fleet, first_run):
    for relay, files in rendered(fleet).items():
        host = fleet.host(relay)
        for path, file in files.items():
            if not file.in_containers:
                continue  # the container engine's own /etc/hostname and /etc/hosts
            on_relay = host.file(path)
            assert on_relay.content_string == file.content, (relay, path)
            assert on_relay.mode == int(file.mode, 8), (relay, path)


def test_a_settings_change_is_previewed_per_relay_and_changes_nothing(settings_restored, first_run):
    fleet = settings_restored
    before = rendered(fleet)
    fleet.group_data["all"]["log_lifetime_hours"] = 6
    fleet.group_data["nym_gateways"]["exit_policy_rules"] = [
        *fleet.group_data["nym_gateways"]["exit_policy_rules"],
        {"rule": "reject 203.0.113.9:25", "note": "ticket 4712"}]
    recorded = history_lines(fleet)
    run = fleet.preview()
    assert run.returncode == 0, run.stderr[-3000:]
    assert history_lines(fleet) == recorded  # a preview writes nothing into the fleet's history either
    after = rendered(fleet)
    changed = {(relay, path) for relay, files in after.items() for path, f in files.items()
               if before[relay][path].content != f.content}
    shown = diffs(run.stderr)
    # exactly the files whose content changes, named per relay
    assert set(shown) == changed
    assert ("relay-2", "/etc/exitkit/exit-policy.nft") in changed
    assert ("relay-1", "/etc/exitkit/exit-policy.nft") not in changed  # the rule is the nym group's
    for relay in ("relay-1", "relay-2", "relay-3"):
        journald = shown[(relay, "/etc/systemd/journald.conf.d/exitkit.conf")]
        assert "- MaxRetentionSec=359min" in journald and "+ MaxRetentionSec=179min" in journald
        purge = shown[(relay, "/etc/systemd/system/exitkit-purge.service")]
        assert "+ Description=exitkit: empty the logs so that none outlives 6 hours" in purge
    nft = shown[("relay-2", "/etc/exitkit/exit-policy.nft")]
    assert any(line.startswith("+ ") and "203.0.113.9" in line and "ticket 4712" in line for line in nft), nft
    for lines in shown.values():  # each a readable unified diff: a hunk, lines taken out and put in
        assert lines[0].startswith("@@ ")
        assert any(line.startswith("- ") for line in lines) and any(line.startswith("+ ") for line in lines)
    # a preview changes nothing
    for relay, path in changed:
        assert relay_content(fleet, relay, path) == before[relay][path].content, (relay, path)


def test_every_file_the_kit_writes_shows_its_diff(settings_restored, first_run):
    """A line added by hand to every file of one relay shows up in the preview of each, limited to that relay."""
    fleet = settings_restored
    files = {path: file for path, file in rendered(fleet)["relay-1"].items() if file.in_containers}
    edit = " ".join(shlex.quote(path) for path in files)
    fleet.exec("relay-1", "sh", "-c", f"for f in {edit}; do echo {shlex.quote(HAND_EDIT)} >> \"$f\"; done")
    run = fleet.preview("--limit", "relay-1")
    assert run.returncode == 0, run.stderr[-3000:]
    shown = diffs(run.stderr)
    assert set(shown) == {("relay-1", path) for path in files}
    for lines in shown.values():
        assert f"- {HAND_EDIT}" in lines
    for path in files:
        assert relay_content(fleet, "relay-1", path).endswith(HAND_EDIT + "\n"), path
    # settings_restored converges the fleet again, which takes the edits out
