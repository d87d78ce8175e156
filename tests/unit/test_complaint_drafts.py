"""Draft replies: written for review, never sent; they open in a mail client as a reply to the complaint."""

from __future__ import annotations

import json
from email import message_from_bytes
from email import policy as email_policy
from itertools import product

import pytest

from exitkit.cli import main
from exitkit.complaints import KINDS
from exitkit.complaints.drafts import LANGUAGES, ROLES, USED, reply_subject
from exitkit.settings import NETWORKS
from exitkit.templating import render
from tests.complaints.desk import CORPUS, desk_fleet


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    folder = tmp_path_factory.mktemp("desk")
    return folder, desk_fleet(folder)


def draft(desk, monkeypatch, capsys, name: str):
    folder, inventory = desk
    monkeypatch.chdir(folder)
    assert main(["complaint", str(inventory), str(CORPUS / name), "--draft", "drafts"]) == 0
    assert "draft: drafts/reply-" in capsys.readouterr().err
    complaint = message_from_bytes((CORPUS / name).read_bytes(), policy=email_policy.default)
    reply = message_from_bytes((folder / "drafts" / f"reply-{name[:-4]}.eml").read_bytes(), policy=email_policy.default)
    return complaint, reply


@pytest.mark.parametrize(("name", "language", "says"), [
    ("08-bruteforce-de.eml", "de", ["Guten Tag,", "192.0.2.31 ist ein Tor-Exit-Relay", "http://192.0.2.31/",
                                    "ließ zu diesem Zeitpunkt Verbindungen zu 198.51.100.44:22 zu"]),
    ("14-authority-ja.eml", "ja", ["ご担当者様", "192.0.2.33は、Desk Test Exitsが運営する", "24時間より古い記録が残る",
                                   "宛先のアドレスとポート番号をお知らせください"]),
    ("22-policy-after-rule-en.eml", "en", ["192.0.2.32 is a Nym exit gateway",
                                           "not let connections to 198.51.100.7:443 out (reject 198.51.100.7:443)"]),
    ("11-fraud-before-service-en.eml", "en", ["this address was not in service as one of our relays"]),
])
def test_a_draft_is_a_reply_in_the_complainants_language(desk, monkeypatch, capsys, name, language, says):
    complaint, reply = draft(desk, monkeypatch, capsys, name)
    assert reply["In-Reply-To"] == complaint["Message-ID"]
    assert complaint["Message-ID"] in reply["References"].split()
    assert reply["Subject"] == "Re: " + complaint["Subject"]
    assert reply["To"] == complaint["From"].addresses[0].addr_spec
    assert reply["From"].addresses[0].addr_spec == "abuse@example.net"
    assert reply["Content-Language"] == language and reply.get_content_charset() == "utf-8"
    body = reply.get_content()
    for piece in says:
        assert piece in body
    assert "ExoneraTor" in body if "Nym" not in body else "ExoneraTor" not in body


def test_a_draft_states_no_policy_answer_a_named_address_could_change(desk, monkeypatch, capsys):
    _, reply = draft(desk, monkeypatch, capsys, "04-spam-forwarded-outlook-en.eml")
    body = reply.get_content()
    assert "webmail.freemail.example:443" in body and "The mail was handed to" in body


def test_no_draft_for_a_complaint_about_no_relay_of_ours(desk, monkeypatch, capsys):
    folder, inventory = desk
    monkeypatch.chdir(folder)
    assert main(["complaint", str(inventory), str(CORPUS / "18-not-ours-en.eml"), "--draft", "none"]) == 1
    assert "no draft" in capsys.readouterr().err and not (folder / "none").exists()


@pytest.mark.parametrize(("kind", "language"), list(product(KINDS, LANGUAGES)))
def test_every_kind_has_a_paragraph_in_every_language(kind, language):
    text = render(f"replies/{kind}.{language}.txt.j2", destination="198.51.100.7:443", destination_known=True,
                  log_lifetime_hours=12)
    assert len(text.strip()) > 40


@pytest.mark.parametrize(("network", "language"), list(product(NETWORKS, LANGUAGES)))
def test_a_reply_names_every_network_in_the_pages_terms(network, language):
    """Each network's role and what its people use, written out per language (no network id in the prose)."""
    role, used = ROLES[network][language], USED[network][language]
    relay = {"address": "192.0.2.31", "network_name": network, f"role_{language}": role, f"used_{language}": used,
             "notice_url": "http://192.0.2.31/", "time": "", "in_service": None, "allowed": None, "rule": "",
             "exonerator": ""}
    text = render(f"replies/frame.{language}.txt.j2", kind="other", relays=[relay], subject="", operator_name="Op",
                  abuse_email="abuse@example.net", destination="", destination_known=False, log_lifetime_hours=24,
                  ask_time=False, ask_destination=False)
    assert "192.0.2.31" in text and role in text and used in text


@pytest.mark.parametrize(("language", "one", "many"), [
    ("en", "one hour", "12 hours"), ("de", "einer Stunde", "12 Stunden"), ("ja", "1時間", "12時間")])
def test_the_log_lifetime_is_worded_for_one_hour_and_for_more(language, one, many):
    for hours, wording in ((1, one), (12, many)):
        text = render(f"replies/authority.{language}.txt.j2", log_lifetime_hours=hours)
        assert wording in text


@pytest.mark.parametrize(("subject", "reply"), [
    ("Spam", "Re: Spam"), ("Re: Spam", "Re: Spam"), ("AW: Spam", "Re: Spam"), ("RE：迷惑メール", "Re: 迷惑メール"),
    ("", "Re: your report")])
def test_reply_subject(subject, reply):
    assert reply_subject(subject) == reply


# An RDAP server's answer for the web mail service's network (RFC 9083), the abuse contact nested under the
# registrant as RIPE nests it.
RDAP_NETWORK = {
    "rdapConformance": ["rdap_level_0"], "objectClassName": "ip network", "handle": "203.0.113.0 - 203.0.113.255",
    "startAddress": "203.0.113.0", "endAddress": "203.0.113.255", "ipVersion": "v4", "name": "FREEMAIL-NET",
    "entities": [{"objectClassName": "entity", "handle": "ORG-FM1-TEST", "roles": ["registrant"],
                  "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Freemail Example"]]],
                  "entities": [{"objectClassName": "entity", "handle": "AR-FM1-TEST", "roles": ["abuse"],
                                "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                                         ["fn", {}, "text", "Freemail Abuse Desk"],
                                                         ["kind", {}, "text", "group"],
                                                         ["email", {"type": "abuse"}, "text",
                                                          "abuse@freemail.example"]]]}]}],
}


@pytest.fixture
def rdap_server():
    """A local HTTP server answering RDAP IP lookups from documents the test writes; records what it was asked."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    documents: dict[str, dict] = {}
    asked: list[tuple[str, str]] = []

    class Rdap(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            asked.append((self.path, self.headers.get("Accept", "")))
            document = documents.get(self.path)
            body = json.dumps(document or {"errorCode": 404, "title": "not found"}).encode()
            self.send_response(200 if document else 404)
            self.send_header("Content-Type", "application/rdap+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Rdap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", documents, asked
    server.shutdown()
    server.server_close()


def test_spam_through_a_mail_service_is_forwarded_to_its_rdap_abuse_contact(rdap_server, tmp_path, monkeypatch, capsys):
    url, documents, asked = rdap_server
    inventory = desk_fleet(tmp_path)
    settings = tmp_path / "group_data" / "all.yml"
    settings.write_text(settings.read_text().replace('rdap_server: ""', f"rdap_server: {url}"))
    documents["/ip/203.0.113.140"] = RDAP_NETWORK
    monkeypatch.chdir(tmp_path)
    name = "04-spam-forwarded-outlook-en.eml"
    assert main(["complaint", str(inventory), str(CORPUS / name), "--draft", "drafts"]) == 0
    assert "draft: drafts/forward-04" in capsys.readouterr().err
    assert asked == [("/ip/203.0.113.140", "application/rdap+json")]
    forward = message_from_bytes((tmp_path / "drafts" / f"forward-{name[:-4]}.eml").read_bytes(),
                                 policy=email_policy.default)
    assert forward["To"] == "abuse@freemail.example" and forward["Cc"] == "abuse@hoster.example"
    body = forward.get_body(("plain",)).get_content()
    assert "Hello Freemail Abuse Desk," in body
    assert "webmail.freemail.example (203.0.113.140, network FREEMAIL-NET 203.0.113.0 - 203.0.113.255)" in body
    assert "192.0.2.31, a Tor exit relay operated by Desk Test Exits" in body
    [attached] = [part for part in forward.iter_attachments() if part.get_content_type() == "message/rfc822"]
    spam = attached.get_content()
    assert spam["Subject"] == "Account verification required" and "192.0.2.31" in spam.get_all("Received")[-1]
    # a network without an abuse contact, or no answer: the reply still, no forward, and a sentence why
    documents["/ip/203.0.113.140"] = {**RDAP_NETWORK, "entities": []}
    assert main(["complaint", str(inventory), str(CORPUS / name), "--draft", "again"]) == 0
    err = capsys.readouterr().err
    assert "names no abuse contact" in err and not (tmp_path / "again" / f"forward-{name[:-4]}.eml").exists()
    del documents["/ip/203.0.113.140"]
    assert main(["complaint", str(inventory), str(CORPUS / name), "--draft", "third"]) == 0
    assert "404" in capsys.readouterr().err and (tmp_path / "third" / f"reply-{name[:-4]}.eml").exists()
