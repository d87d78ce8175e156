"""`exitkit complaint` over the corpus in tests/complaints: every complaint gets its expected answer.

The fleet is tests/complaints/fleet with a history written by the kit's own writer (tests/complaints/desk.py);
the command runs in-process as an operator would call it, from the fleet's folder, with --json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exitkit.cli import main
from exitkit.complaints import Unreadable, read_complaint
from exitkit.complaints.facts import find_facts
from exitkit.complaints.message import MAX_BYTES, html_text
from exitkit.complaints.times import find_times
from tests.complaints.desk import CORPUS, desk_fleet

EXPECTED = yaml.safe_load((CORPUS.parent / "expected.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("desk")
    return folder, desk_fleet(folder)


def complaint(desk, monkeypatch, capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    folder, inventory = desk
    monkeypatch.chdir(folder)
    code = main(["complaint", str(inventory), str(path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_corpus_is_big_enough_and_every_file_has_an_answer():
    files = {p.name for p in CORPUS.iterdir()}
    assert files == set(EXPECTED)
    answered = [name for name in EXPECTED if not name.startswith("bad-")]
    assert len(answered) >= 30
    kinds = {EXPECTED[name]["kind"] for name in answered}
    assert kinds == {"spam", "copyright", "scanning", "fraud", "phishing", "ddos", "authority", "other"}
    assert {EXPECTED[name]["language"] for name in answered} == {"en", "de", "ja"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_complaint_gets_its_expected_answer(desk, monkeypatch, capsys, name):
    expected = EXPECTED[name]
    code, out, err = complaint(desk, monkeypatch, capsys, CORPUS / name, "--json")
    assert code == expected.get("exit", 0), err
    assert "Traceback" not in err
    if "stderr" in expected:
        assert expected["stderr"] in err
        return
    answer = json.loads(out)
    assert answer["kind"] == expected["kind"]
    assert answer["complaint"]["language"] == expected["language"]
    times = [t["utc"] + ("?" if t["ambiguous"] else "") for t in answer["times"]]
    assert times == expected["times"]
    destination = answer["destination"]
    shown = destination["address"] or destination["host"]
    shown = f"[{shown}]" if ":" in shown else shown
    assert (f"{shown}:{destination['port']}" if destination["port"] else shown) == expected["destination"]
    found = {r["relay"]: [[j["in_service"], j["allowed"]] for j in r["judgements"]] for r in answer["relays"]}
    assert found == expected["relays"]
    assert [a["address"] for a in answer["not_ours"]] == expected.get("not_ours", [])
    judgements = [j for r in answer["relays"] for j in r["judgements"]]
    if "rule" in expected:
        assert {j["rule"] for j in judgements} == {expected["rule"]}
    if "note" in expected:
        assert {j["note"] for j in judgements} == {expected["note"]}


def test_the_text_answer_names_relay_rule_and_note(desk, monkeypatch, capsys):
    code, out, _ = complaint(desk, monkeypatch, capsys, CORPUS / "22-policy-after-rule-en.eml")
    assert code == 0
    assert "relay-2 (nym, deskexit2), address 192.0.2.32" in out
    assert "198.51.100.7:443: NOT allowed by 'reject 198.51.100.7:443'  # complaint 2026-11-14, ticket 4711" in out
    code, out, _ = complaint(desk, monkeypatch, capsys, CORPUS / "23-old-address-en.eml")
    assert "tor instances, any of which may have carried it: default 01" in out  # the keys of the run then
    code, out, _ = complaint(desk, monkeypatch, capsys, CORPUS / "09-portscan-de.eml")
    assert "AMBIGUOUS: no time zone given, read as UTC" in out and "What is missing:" in out


def test_a_binary_file_and_a_huge_mail_are_refused_clearly(desk, monkeypatch, capsys, tmp_path):
    binary = tmp_path / "scan.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    code, out, err = complaint(desk, monkeypatch, capsys, binary)
    assert (code, out) == (3, "") and "binary data" in err and "Traceback" not in err
    huge = tmp_path / "huge.eml"
    huge.write_bytes(b"From: a@example.com\nSubject: big\n\n" + b"192.0.2.31 spam\n" * (20 * 1024 * 1024 // 16))
    code, out, err = complaint(desk, monkeypatch, capsys, huge)
    assert (code, out) == (3, "") and "larger than 5 MB" in err
    code, out, err = complaint(desk, monkeypatch, capsys, tmp_path / "missing.eml")
    assert code == 3 and "No such file" in err


def test_read_complaint_refuses_empty_and_oversized_input():
    with pytest.raises(Unreadable, match="empty"):
        read_complaint(b"  \n")
    with pytest.raises(Unreadable, match="far smaller"):
        read_complaint(b"x" * (MAX_BYTES + 1))


@pytest.mark.parametrize(("written", "utc", "ambiguous"), [
    ("Fri, 27 Nov 2026 07:37:12 +0100", "2026-11-27 06:37:12", False),
    ("2026-11-27T07:37:12Z", "2026-11-27 07:37:12", False),
    ("27.11.2026, 07:37:12 Uhr MESZ", "2026-11-27 05:37:12", False),
    ("am 27.11.2026 um 07:37 Uhr", "2026-11-27 07:37:00", True),
    ("2026年11月27日（金） 07時37分", "2026-11-27 07:37:00", True),
    ("2026/11/27 07:37:12 JST", "2026-11-26 22:37:12", False),
    ("Nov 27, 2026 7:37:12 PM PST", "2026-11-28 03:37:12", False),
    ("27/11/2026 07:37 GMT", "2026-11-27 07:37:00", False),
    ("11/12/2026 07:37 UTC", "2026-11-12 07:37:00", True),
    ("27 November 2026 07:37 UTC+1", "2026-11-27 06:37:00", False),
])
def test_times_in_utc_and_ambiguity_shown(written, utc, ambiguous):
    [found] = find_times(f"seen {written}.", "text")
    assert f"{found.utc:%Y-%m-%d %H:%M:%S}" == utc
    assert bool(found.ambiguous) == ambiguous


def test_kind_rules_are_read_top_down():
    police_about_phishing = read_complaint(b"Police investigation: phishing from 192.0.2.31 on 2026-11-27T07:37Z\n")
    facts = find_facts(police_about_phishing, lambda a: a == "192.0.2.31")
    assert (facts.kind, facts.kind_reason) == ("authority", "the word 'police'")


def test_html_is_read_as_its_visible_text():
    assert html_text("<html><head><style>p{}</style></head><body><p>IP:&nbsp;192.0.2.31</p>"
                     "<script>x=1</script><p>b</p></body></html>") == "IP: 192.0.2.31\nb"


def read_or_refused(data: bytes) -> None:
    """Either a complaint whose facts can be found, or Unreadable with a sentence; nothing else escapes."""
    try:
        complaint = read_complaint(data)
    except Unreadable as refused:
        assert str(refused)
        return
    find_facts(complaint, lambda address: address == "192.0.2.31")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode))
def test_any_input_is_read_or_refused_with_a_sentence(data):
    read_or_refused(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["From: a@example.com\n", "Content-Type: multipart/mixed; boundary=b\n",
                                 "Content-Type: message/rfc822\n", "Content-Transfer-Encoding: base64\n",
                                 "Content-Type: text/html; charset=shift_jis\n", "\n", "--b\n", "--b--\n",
                                 "Received: from [192.0.2.31] by mx.example.com; Wed, 25 Nov 2026 08:12:44 +0000\n",
                                 "Date: 2026-11-25T08:12:44Z\n", "Source: 192.0.2.31\n", "Report-Type: spam\n",
                                 "=E3=81=82 <b>x</b>\n", "QUJD\n"]), max_size=40))
def test_mail_shaped_input_is_read_or_refused_with_a_sentence(lines):
    read_or_refused(("Subject: x\n" + "".join(lines)).encode())
