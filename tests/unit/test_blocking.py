"""Blocking on request: a reject entry written into the operator's YAML, comments and layout kept, checked like
every setting, and removed again once it has expired."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from exitkit.blocking import BlockError, Edit, Place, add_rule, prune_expired, reject_rule, write_checked
from exitkit.cli import main
from exitkit.fleet import load_valid_fleet
from exitkit.plan import exit_policy_of
from exitkit.policy import PolicyError, parse_rule
from tests.complaints.desk import CORPUS, FLEET

DAY = datetime.date(2027, 5, 31)

GROUP_FILE = """\
# Our exits, reviewed by two people
network: tor   # the network they exit for
exit_policy_rules:
  # asked by the site itself
  - "reject 203.0.113.9:443"   # ticket 12
  - {rule: 'reject 198.51.100.7:443', note: ticket 4711, expires: 2020-01-01}
language: en
"""

INVENTORY = """\
tor_exits:
    relay-1:
        nickname: a   # the first
        exit_policy_rules:
        - reject 203.0.113.9:443
    relay-2: {}
"""


def added_and_removed(old: str, new: str, name: str = "f.yml") -> tuple[list[str], list[str]]:
    lines = Edit(Path(name), old, new).diff().splitlines()[2:]
    return [line[1:] for line in lines if line.startswith("+")], [line[1:] for line in lines if line.startswith("-")]


def test_a_block_is_added_first_and_every_other_line_stays():
    rule = reject_rule("192.0.2.50:25", "complaint spam.eml", DAY)
    new = add_rule(GROUP_FILE, Place(Path("g.yml")), rule)
    added, removed = added_and_removed(GROUP_FILE, new)
    assert removed == []
    assert added == ["  - rule: reject 192.0.2.50:25", "    note: complaint spam.eml", "    expires: 2027-05-31"]
    assert [line for line in new.splitlines() if line not in added] == GROUP_FILE.splitlines()
    assert new.index("192.0.2.50") < new.index("203.0.113.9")  # first: no accept of the operator's shadows it


def test_a_host_in_the_inventory_gets_it_in_the_file_s_own_indentation():
    new = add_rule(INVENTORY, Place(Path("inventory/f.yml"), "relay-1"), reject_rule("192.0.2.50", "ticket 9"))
    added, removed = added_and_removed(INVENTORY, new)
    assert removed == [] and added == ["        - rule: reject 192.0.2.50:*", "          note: ticket 9"]


def test_a_file_without_the_setting_gets_it_and_a_second_block_changes_nothing():
    rule = reject_rule("198.51.100.0/24", "ticket 9")
    new = add_rule("language: en\n", Place(Path("all.yml")), rule)
    assert new == "language: en\nexit_policy_rules:\n- rule: reject 198.51.100.0/24:*\n  note: ticket 9\n"
    assert add_rule(new, Place(Path("all.yml")), reject_rule("198.51.100.0/24", "another note")) == new


def test_pruning_removes_only_what_has_expired():
    new, gone = prune_expired(GROUP_FILE, Place(Path("g.yml")), datetime.date(2026, 11, 30))
    assert [rule.text for rule in gone] == ["reject 198.51.100.7:443"]
    added, removed = added_and_removed(GROUP_FILE, new)
    assert added == [] and removed == ["  - {rule: 'reject 198.51.100.7:443', note: ticket 4711, expires: 2020-01-01}"]
    assert prune_expired(new, Place(Path("g.yml")), datetime.date(2026, 11, 30)) == (new, [])


@pytest.mark.parametrize(("target", "text"), [
    ("198.51.100.7:443", "reject 198.51.100.7:443"),
    ("198.51.100.7", "reject 198.51.100.7:*"),
    ("203.0.113.0/24", "reject 203.0.113.0/24:*"),
    ("2001:db8::1", "reject [2001:db8::1]:*"),
    ("[2001:db8::1]:443", "reject [2001:db8::1]:443"),
    ("2001:db8::/48", "reject [2001:db8::]/48:*"),
])
def test_targets_as_operators_write_them(target, text):
    assert reject_rule(target, "n").text == text


@pytest.mark.parametrize(("target", "says"), [
    ("10.0.0.1:443", "always rejected"),
    ("*:25", "one address or network"),
    ("198.51.100.7:70000", "out of range"),
    ("example.org:443", "expected"),
])
def test_targets_that_cannot_be_blocked_are_refused_with_a_reason(target, says):
    with pytest.raises(BlockError, match=says):
        reject_rule(target, "n")


def test_expires_is_a_known_field_of_an_entry():
    rule = parse_rule({"rule": "reject 198.51.100.7:443", "note": "t", "expires": "2027-05-31"})
    assert rule.expires == DAY and rule.expired(datetime.date(2027, 6, 1)) and not rule.expired(DAY)
    assert parse_rule({"rule": "reject 198.51.100.7:443", "expires": DAY}) == parse_rule("reject 198.51.100.7:443")
    with pytest.raises(PolicyError, match="a day such as 2027-05-31"):
        parse_rule({"rule": "reject 198.51.100.7:443", "expires": "next spring"})


@pytest.fixture
def desk(tmp_path, monkeypatch):
    shutil.copytree(FLEET, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*.yml"))}


def test_exitkit_block_shows_the_diff_writes_and_every_relay_rejects(desk, capsys):
    before = files(desk)
    assert main(["block", "inventory/desk.py", "203.0.113.77:443", "--note", "ticket 99", "--dry"]) == 0
    assert "+  - rule: reject 203.0.113.77:443" in capsys.readouterr().out and files(desk) == before
    assert main(["block", "inventory/desk.py", "203.0.113.77:443", "--note", "ticket 99",
                 "--expires", "2099-01-31"]) == 0
    out = capsys.readouterr().out
    # the tor exits take the list from all.yml (which had none), the nym gateway from its own group file
    assert "+++ b/group_data/all.yml" in out and "+++ b/group_data/nym_gateways.yml" in out
    assert "# no RDAP service" in (desk / "group_data/all.yml").read_text()
    fleet, _ = load_valid_fleet("inventory/desk.py")
    for relay in fleet.relays:
        rule = exit_policy_of(relay.settings).deciding_rule("203.0.113.77", 443)
        assert rule.text == "reject 203.0.113.77:443" and rule.note.startswith("ticket 99; blocked ")
    assert main(["block", "inventory/desk.py", "203.0.113.77:443", "--note", "again"]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_an_edit_the_fleet_refuses_leaves_every_file_as_it_was(desk, capsys):
    before = files(desk)
    good = Path("group_data/nym_gateways.yml")
    edits = [Edit(good, good.read_text(), add_rule(good.read_text(), Place(good), reject_rule("192.0.2.9", "t"))),
             Edit(Path("group_data/all.yml"), before["group_data/all.yml"],
                  before["group_data/all.yml"] + "exit_policy_rules: [reject nowhere]\n"),
             Edit(Path("group_data/new.yml"), "", "language: xx\n")]
    with pytest.raises(SystemExit):
        write_checked(edits, lambda: load_valid_fleet("inventory/desk.py") and None)
    assert "group_data/new.yml: group 'new', key 'language'" in capsys.readouterr().err
    assert files(desk) == before  # the new file is gone again, the two others are as they were


def test_expired_blocks_are_reported_by_check_and_pruned_by_one_command(desk, capsys):
    nym = desk / "group_data/nym_gateways.yml"
    nym.write_text(nym.read_text() + "    expires: 2026-01-01\n")
    assert main(["check", "inventory/desk.py"]) == 0
    out = capsys.readouterr().out
    assert "expired: group_data/nym_gateways.yml: exit_policy_rules entry 'reject 198.51.100.7:443'" in out
    assert "exitkit block inventory/desk.py --prune-expired" in out
    assert main(["block", "inventory/desk.py", "--prune-expired"]) == 0
    assert "-    expires: 2026-01-01" in capsys.readouterr().out
    assert "198.51.100.7" not in nym.read_text()
    main(["check", "inventory/desk.py"])
    assert "expired" not in capsys.readouterr().out


def test_a_complaint_blocks_its_destination_with_a_note_naming_it(desk, capsys):
    shutil.copy(CORPUS / "08-bruteforce-de.eml", desk / "08-bruteforce-de.eml")
    assert main(["complaint", "inventory/desk.py", "08-bruteforce-de.eml", "--json", "--block"]) in (0, 1)
    captured = capsys.readouterr()
    assert "+- rule: reject 198.51.100.44:22" in captured.err  # with --json the diff goes to stderr
    fleet, _ = load_valid_fleet("inventory/desk.py")
    for relay in fleet.relays:
        rule = exit_policy_of(relay.settings).deciding_rule("198.51.100.44", 22)
        assert rule.text == "reject 198.51.100.44:22" and "complaint 08-bruteforce-de.eml" in rule.note
