"""The `exitkit` command: look at a fleet without changing any host.

    exitkit check inventory/<fleet>.py                     validate every setting of every relay
    exitkit policy inventory/<fleet>.py RELAY [--form F]   the relay's effective exit policy
    exitkit policy inventory/<fleet>.py RELAY --exits-to ADDR:PORT
                                                           would RELAY exit there? (for a complaint)
    exitkit block inventory/<fleet>.py ADDR[:PORT] --note TEXT [--expires DAY] [--dry]
                                                           a reject entry in the fleet's settings, diff shown
    exitkit block inventory/<fleet>.py --prune-expired     remove the entries whose expiry has passed
    exitkit schedule inventory/<fleet>.py                  the fleet's reboot schedule
    exitkit render inventory/<fleet>.py --out DIR [--relay R]
                                                           every file the kit writes, per relay
    exitkit rdns inventory/<fleet>.py [--json | --zone]    reverse DNS of every public address, and what to do
    exitkit outside inventory/<fleet>.py [--json]          what every relay serves, fetched from outside
    exitkit dnsbl inventory/<fleet>.py [--json]            every relay address against the DNS blocklists
    exitkit verify inventory/<fleet>.py [--json] [--strict]
                                                           all three: wrong pages fail; DNS findings are advice
    exitkit complaint inventory/<fleet>.py MESSAGE [--json] [--draft DIR] [--block [--expires DAY]]
                                                           one complaint judged against the fleet's history
    exitkit settings-table                                 the README's settings table
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from exitkit import settings
from exitkit.fleet import load_valid_fleet


def cmd_check(args) -> int:
    """Exit 0 for a valid fleet; expired blocks are reported (they stay in force until removed), not failed."""
    from exitkit.blocking import expired_entries

    fleet, plans = load_valid_fleet(args.inventory)
    for relay in fleet.relays:
        s = relay.settings
        print(f"{relay.name}: {s.network} {s.nickname} {plans[relay.name].hostname or '(no name)'} ok")
    expired = expired_entries(fleet, _today())
    for entry in expired:
        print(f"expired: {entry.place}: exit_policy_rules entry '{entry.rule.text}'"
              + (f" ({entry.rule.note})" if entry.rule.note else "")
              + f" expired on {entry.rule.expires}; still in force on {entry.relay} and the relays sharing it")
    if expired:
        print(f"remove them with: exitkit block {args.inventory} --prune-expired")
    return 0


def _today():
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


def cmd_block(args) -> int:
    """Exit 0 when the files say it (or already did), 2 when the block cannot be written; files then untouched."""
    from exitkit import blocking

    fleet, _ = load_valid_fleet(args.inventory)
    if args.prune_expired:
        if args.target or args.note or args.expires:
            print("exitkit: --prune-expired takes no address, --note or --expires", file=sys.stderr)
            return 2
        try:
            return _write_blocks(args, _prune_edits(fleet), None)
        except blocking.BlockError as error:
            print(f"exitkit: {error}", file=sys.stderr)
            return 2
    if not args.target or not args.note:
        print("exitkit: expected ADDR[:PORT] and --note naming the request, e.g. "
              "exitkit block inventory/f.py 198.51.100.7:443 --note 'ticket 4711'", file=sys.stderr)
        return 2
    try:
        rule = blocking.reject_rule(args.target, f"{args.note}; blocked {_today()}", _expiry(args.expires))
        return _write_blocks(args, _block_edits(fleet, args.inventory, rule), rule)
    except blocking.BlockError as error:
        print(f"exitkit: {error}", file=sys.stderr)
        return 2


def _expiry(text: str | None):
    from datetime import date

    from exitkit.blocking import BlockError

    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BlockError(f"--expires {text!r}: expected a day such as 2027-05-31") from None
    if day <= _today():
        raise BlockError(f"--expires {text}: expected a day after today ({_today()})")
    return day


def _block_edits(fleet, inventory: str, rule) -> list:
    from pathlib import Path

    from exitkit import blocking
    from exitkit.loader import fleet_dir, group_data_dirs

    dirs = group_data_dirs(Path(inventory)) or [fleet_dir(inventory) / "group_data"]
    edits = []
    for place in blocking.places(fleet, dirs[0] / "all.yml"):
        old = place.file.read_text(encoding="utf-8") if place.file.exists() else ""
        edits.append(blocking.Edit(place.file, old, blocking.add_rule(old, place, rule)))
    return edits


def _prune_edits(fleet) -> list:
    from exitkit import blocking

    expired = blocking.expired_entries(fleet, _today())
    old = {e.place.file: e.place.file.read_text(encoding="utf-8") for e in expired}
    new = dict(old)
    for entry in expired:
        new[entry.place.file], _ = blocking.prune_expired(new[entry.place.file], entry.place, _today())
    return [blocking.Edit(file, old[file], new[file]) for file in old]


def _write_blocks(args, edits: list, rule, out=None) -> int:
    """Show the diff; unless --dry, write, load the fleet again (and check every relay now rejects the target);
    a fleet that fails gets its files back as they were."""
    from exitkit import blocking
    from exitkit.plan import exit_policy_of

    out = out or sys.stdout
    edits = [e for e in edits if e.new != e.old]
    if not edits:
        print("nothing to change: " + (f"every relay has '{rule.text}' already" if rule else "no expired entry"),
              file=out)
        return 0
    for edit in edits:
        print(edit.diff(), end="", file=out)
    if getattr(args, "dry", False):
        print("--dry: nothing written", file=out)
        return 0

    def check() -> None:
        fleet, _ = load_valid_fleet(args.inventory)
        if rule is None:
            return
        sample = str(rule.destination.network_address)
        open_on = [r.name for r in fleet.relays if exit_policy_of(r.settings).allows(sample, rule.ports[0])]
        if open_on:
            raise blocking.BlockError(f"after the edit {', '.join(open_on)} would still exit to {sample}:"
                                      f"{rule.ports[0]}; edit exit_policy_rules yourself")

    try:
        blocking.write_checked(edits, check)
    except SystemExit:
        print("exitkit: nothing written: the fleet would not be valid with this change", file=sys.stderr)
        return 2
    print(f"written: {', '.join(str(e.file) for e in edits)}; the next deploy rolls it out: "
          f"pyinfra {args.inventory} deploys/exit.py", file=out)
    return 0


def _relay_named(fleet, name: str, inventory: str):
    """The fleet's relay of that name, or None after telling the operator which relays there are."""
    try:
        return fleet.relay(name)
    except KeyError:
        print(f"exitkit: no relay '{name}' in {inventory}; relays: "
              + ", ".join(r.name for r in fleet.relays), file=sys.stderr)
        return None


def cmd_policy(args) -> int:
    from exitkit import policy as P
    from exitkit.plan import exit_policy_of

    fleet, _ = load_valid_fleet(args.inventory)
    relay = _relay_named(fleet, args.relay, args.inventory)
    if relay is None:
        return 2
    policy = exit_policy_of(relay.settings)
    if args.exits_to:
        address, _, port = args.exits_to.rpartition(":")
        address = address.strip("[]")
        try:
            allowed = policy.allows(address, int(port))
        except ValueError:
            print("exitkit: expected ADDRESS:PORT such as 198.51.100.7:443 or [2001:db8::1]:443, "
                  f"got {args.exits_to!r}", file=sys.stderr)
            return 2
        rule = policy.deciding_rule(address, int(port))
        verdict = "EXITS" if allowed else "does NOT exit"
        print(f"{relay.name} ({relay.settings.nickname}) {verdict} to {args.exits_to}: decided by '{rule}'"
              + (f"  # {rule.note}" if getattr(rule, "note", "") else ""))
        return 0 if allowed else 1
    forms = {
        "torrc": lambda: P.render_torrc(policy),
        "nym": lambda: P.render_nym(policy),
        "nftables": lambda: P.render_nftables(policy, relay.settings.exit_interface,
                                                exit_addresses=P.exit_addresses(relay.settings)),
        "summary": lambda: _summary_text(P.summarise(policy), P.enforcement(relay.settings)),
    }
    for form in ([args.form] if args.form else list(forms)):
        print(f"### {relay.name}: {form} (policy id {P.policy_id(policy)})")
        print(forms[form]().rstrip() + "\n")
    return 0


def _summary_text(summary, where) -> str:
    from exitkit.policy import PORTLESS_RULE

    lines = ["open ports: " + (", ".join(f"{p} ({s})" if s else p for p, s in summary.open_ports) or "none")]
    if summary.closed_ports:
        lines.append("closed ports: " + ", ".join(f"{p} ({s})" if s else p for p, s in summary.closed_ports))
    for destination, note in summary.blocked:
        lines.append(f"blocked: {destination}" + (f"  # {note}" if note else ""))
    lines.append(f"IPv6 exit: {'on' if summary.ipv6_exit else 'off'}")
    portless = "accepted" if summary.portless_open else "rejected"
    lines.append(f"without ports: {portless} to destinations no entry names ({PORTLESS_RULE})")
    lines.append(f"enforced: {where.summary}")
    return "\n".join(lines)


def cmd_schedule(args) -> int:
    from exitkit.maintenance import schedule
    from exitkit.plan import schedule_inputs

    fleet, plans = load_valid_fleet(args.inventory)
    times = {name: plan.reboot for name, plan in plans.items() if plan.reboot}
    print(schedule.format_schedule_table(times, schedule_inputs(fleet)))
    return 0


def cmd_render(args) -> int:
    """What a deploy would write, as files: exitkit.configs is what the deploy units write too."""
    from pathlib import Path

    from exitkit.configs import fleet_files, write_tree
    from exitkit.loader import fleet_dir

    fleet, plans = load_valid_fleet(args.inventory)
    relays = fleet.relays
    if args.relay:
        relay = _relay_named(fleet, args.relay, args.inventory)
        if relay is None:
            return 2
        relays = (relay,)
    out = Path(args.out)
    every = fleet_files(fleet, plans, fleet_dir(args.inventory))
    for relay in relays:
        files = every[relay.name]
        folder = write_tree(out, relay.name, files)
        checked = sum(1 for f in files if f.check)
        print(f"{relay.name}: {len(files)} files written to {folder}/ ({checked} checked on the relay before use)")
    return 0


def cmd_rdns(args) -> int:
    """Exit 0 when every address is clean, 1 when any needs action."""
    from exitkit import rdns

    report = rdns.check_fleet(*load_valid_fleet(args.inventory))
    if args.json:
        print(report.to_json())
    else:
        print(rdns.zone_snippet(report) if args.zone else rdns.table(report), end="" if args.zone else "\n")
    return 0 if report.clean else 1


def cmd_dnsbl(args) -> int:
    """Exit 0 when no address is listed (lists of every exit aside), 1 when any is."""
    from exitkit import dnsbl

    fleet, _ = load_valid_fleet(args.inventory)
    report = dnsbl.check_fleet(fleet)
    print(report.to_json() if args.json else dnsbl.table(report))
    return 1 if report.listed else 0


def cmd_outside(args) -> int:
    """Exit 0 when every relay serves what its settings say, 1 otherwise."""
    from exitkit import outside

    checks = outside.check_fleet(*load_valid_fleet(args.inventory))
    print(json.dumps(outside.to_json(checks), indent=2) if args.json else outside.report_text(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_verify(args) -> int:
    """Wrong pages fail; a reverse-DNS finding fails only with --strict (a PTR is advice); blocklists are advice."""
    from exitkit import dnsbl, outside, rdns

    fleet, plans = load_valid_fleet(args.inventory)
    report, checks = rdns.check_fleet(fleet, plans), outside.check_fleet(fleet, plans)
    listings = dnsbl.check_fleet(fleet)
    served, clean = all(c.ok for c in checks), report.clean
    if args.json:
        print(json.dumps({"ok": served and (clean or not args.strict), "outside": outside.to_json(checks),
                          "rdns": report.as_dict(), "dnsbl": listings.as_dict()}, indent=2))
    else:
        print("## What the relays serve\n" + outside.report_text(checks))
        print("\n## Reverse DNS" + ("" if args.strict else " (advice)") + "\n" + rdns.table(report))
        print("\n## DNS blocklists (advice)\n" + dnsbl.table(listings))
    return 0 if served and (clean or not args.strict) else 1


def cmd_complaint(args) -> int:  # noqa: C901
    """Exit 0 when the complaint names a relay of the fleet, 1 when it names none, 3 when it cannot be read."""
    from exitkit import complaints, control, history
    from exitkit.loader import fleet_dir
    from exitkit.plan import exit_policy_of

    fleet, _ = load_valid_fleet(args.inventory)
    folder = fleet_dir(args.inventory)
    try:
        data = _complaint_bytes(args.message)
        complaint = complaints.read_complaint(data)
    except (OSError, complaints.Unreadable) as error:
        print(f"exitkit: cannot read the complaint {args.message}: {error}", file=sys.stderr)
        return 3
    try:
        records = control.read_history(folder, fleet.name)
    except ValueError as error:
        print(f"exitkit: {error}", file=sys.stderr)
        return 2
    relays = [complaints.FleetRelay(r.name, r.settings.network, r.settings.nickname,
                                    tuple(a for a in (r.settings.public_ipv4, r.settings.public_ipv6) if a),
                                    history.stored_policy(history.policy_document(exit_policy_of(r.settings))))
              for r in fleet.relays]
    policies = {p.policy_id: p for p in (control.read_policy(folder, i) for i in {r.policy_id for r in records}) if p}
    ours = {a for r in relays for a in r.addresses} | {a for r in records for a in r.addresses}

    def is_ours(address: str) -> bool:
        return any(history.same_address(address, a) for a in ours)

    facts = complaints.find_facts(complaint, is_ours)
    verdict = complaints.judge(facts, relays, records, policies)
    print(complaints.to_json(complaint, facts, verdict) if args.json else complaints.to_text(complaint, facts, verdict))
    if args.draft and verdict.relays:
        for written in _write_drafts(args, fleet, complaint, facts, verdict):
            print(f"draft: {written} (review it, then send it yourself)", file=sys.stderr)
    elif args.draft:
        print("exitkit: no draft: the complaint names no relay of this fleet", file=sys.stderr)
    if not facts.addresses:
        print(f"exitkit: {args.message} names no IP address; ask the complainant for the address, the time with its "
              "time zone, and the destination", file=sys.stderr)
    if args.block and _block_complaint(args, fleet, complaint, facts) != 0:
        return 2
    return 0 if verdict.relays else 1


def _block_complaint(args, fleet, complaint, facts) -> int:
    """--block: the complaint's destination rejected on every relay, the note naming the complaint and the day."""
    from pathlib import Path

    from exitkit import blocking

    destination = facts.destination
    if not destination.address:
        print(f"exitkit: no block: the complaint names no destination address ({destination.shown()}); "
              f"block by hand with: exitkit block {args.inventory} ADDR[:PORT] --note ...", file=sys.stderr)
        return 2
    name = Path(args.message).name if args.message != "-" else "from stdin"
    subject = complaint.outer.subject
    note = f"complaint {name}" + (f" '{subject[:60]}'" if subject else "") + f"; blocked {_today()}"
    target = destination.shown() if destination.port else destination.address
    try:
        rule = blocking.reject_rule(target, note, _expiry(args.expires))
        return _write_blocks(args, _block_edits(fleet, args.inventory, rule), rule,
                             out=sys.stderr if args.json else sys.stdout)
    except blocking.BlockError as error:
        print(f"exitkit: no block: {error}", file=sys.stderr)
        return 2


def _write_drafts(args, fleet, complaint, facts, verdict) -> list[str]:
    """The draft reply as DIR/reply-<complaint's file name>.eml, and for a spam sent through a mail service a
    forward to its abuse contact (RDAP) as DIR/forward-<name>.eml; the kit never sends them."""
    from datetime import UTC, datetime
    from pathlib import Path

    from exitkit.complaints.drafts import Operator, draft_forward, draft_reply
    from exitkit.outside import notice_url

    named = [fleet.relay(f.relay) for f in verdict.relays if any(r.name == f.relay for r in fleet.relays)]
    first = (named or list(fleet.relays))[0].settings
    operator = Operator(first.operator_name, first.abuse_email, first.language, first.log_lifetime_hours,
                        {r.name: notice_url(r.settings) for r in named})
    now = datetime.now(UTC)
    drafts = {"reply": draft_reply(complaint, facts, verdict, operator, now)}
    lookup = _provider_abuse_contact(complaint, facts, first.rdap_server)
    if lookup:
        contact, server = lookup
        drafts["forward"] = draft_forward(complaint, facts, verdict, operator, contact, server, now)
    folder = Path(args.draft)
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(args.message).stem if args.message != "-" else "stdin"
    written = []
    for kind, mail in drafts.items():
        path = folder / f"{kind}-{stem}.eml"
        path.write_bytes(bytes(mail))
        written.append(str(path))
    return written


def _provider_abuse_contact(complaint, facts, rdap_server: str):
    """(abuse contact, address) of the mail service a spam went through from the relay, asked of rdap_server;
    None when the complaint is no such spam, or the lookup finds no contact (said on stderr)."""
    import requests

    from exitkit.complaints.facts import server_address
    from exitkit.complaints.rdap import abuse_contact, rdap_url

    destination = facts.destination
    if facts.kind != "spam" or not destination.host or "Received" not in destination.source or not rdap_server:
        return None
    address = server_address(complaint, destination.host)
    if not address:
        print(f"exitkit: no forward: the mail gives no address for {destination.host}", file=sys.stderr)
        return None
    url = rdap_url(rdap_server, address)
    try:
        answer = requests.get(url, headers={"Accept": "application/rdap+json"}, timeout=15)
        answer.raise_for_status()
        contact = abuse_contact(answer.json())
    except (requests.RequestException, ValueError) as error:
        print(f"exitkit: no forward: RDAP {url} failed: {error}", file=sys.stderr)
        return None
    if contact is None:
        print(f"exitkit: no forward: RDAP {url} names no abuse contact", file=sys.stderr)
        return None
    return contact, address


def _complaint_bytes(name: str) -> bytes:
    """The complaint's bytes (``-``: standard input), refused unread when it is far too big to be one."""
    from exitkit.complaints import MAX_BYTES, Unreadable

    if name == "-":
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
    else:
        with open(name, "rb") as source:
            data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Unreadable(f"it is larger than {MAX_BYTES // 1024 // 1024} MB; a complaint is far smaller: save the "
                         "mail alone (without large attachments) or paste its text")
    return data


def cmd_deploy_path(args) -> int:
    """The installed kit's deploy file, so a fleet repository needs no checkout: pyinfra takes only a file path."""
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("deploys")  # located, not imported: the library never runs the pyinfra side
    if spec is None or not spec.origin:
        print("exitkit: the kit's deploys package is not installed beside exitkit", file=sys.stderr)
        return 2
    print(Path(spec.origin).resolve().parent / ("upgrade.py" if args.upgrade else "exit.py"))
    return 0


def cmd_settings_table(args) -> int:
    sys.stdout.write(settings.settings_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exitkit",
                                     description="Look at an exit relay fleet without changing any host.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="validate every setting of every relay")
    p.add_argument("inventory")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("policy", help="a relay's effective exit policy, or whether it exits to ADDR:PORT")
    p.add_argument("inventory")
    p.add_argument("relay")
    p.add_argument("--form", choices=("torrc", "nym", "nftables", "summary"))
    p.add_argument("--exits-to", metavar="ADDR:PORT")
    p.set_defaults(func=cmd_policy)
    p = sub.add_parser("block", help="add a reject entry (with a note, an optional expiry) to the fleet's settings")
    p.add_argument("inventory")
    p.add_argument("target", nargs="?", metavar="ADDR[:PORT]", help="an address or network; no port: every port")
    p.add_argument("--note", help="the request or complaint it answers (the day is added)")
    p.add_argument("--expires", metavar="YYYY-MM-DD", help="the day after which `exitkit check` reports it")
    p.add_argument("--prune-expired", action="store_true", help="remove every entry whose expiry has passed")
    p.add_argument("--dry", action="store_true", help="show the diff, write nothing")
    p.set_defaults(func=cmd_block)
    p = sub.add_parser("schedule", help="the fleet's reboot schedule")
    p.add_argument("inventory")
    p.set_defaults(func=cmd_schedule)
    p = sub.add_parser("render", help="write every config file of every relay into a folder, per relay")
    p.add_argument("inventory")
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/<relay>/<path on the relay>")
    p.add_argument("--relay", metavar="NAME", help="only this relay")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("rdns", help="reverse DNS of every public address: verdicts and what to ask for")
    p.add_argument("inventory")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the report as JSON")
    form.add_argument("--zone", action="store_true", help="the forward records the fleet needs, as a zone snippet")
    p.set_defaults(func=cmd_rdns)
    p = sub.add_parser("outside", help="fetch every relay's notice page, policy and security.txt, and compare")
    p.add_argument("inventory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_outside)
    p = sub.add_parser("dnsbl", help="every relay address against the DNS blocklists of dnsbl_zones")
    p.add_argument("inventory")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_dnsbl)
    p = sub.add_parser("verify", help="outside check and reverse-DNS check together")
    p.add_argument("inventory")
    p.add_argument("--json", action="store_true")
    p.add_argument("--strict", action="store_true", help="also fail when any address needs reverse-DNS action")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("complaint", help="read one complaint (.eml, X-ARF, text) and judge it against the history")
    p.add_argument("inventory")
    p.add_argument("message", metavar="MESSAGE", help="the complaint as saved from the mail client, or - for stdin")
    p.add_argument("--json", action="store_true", help="the findings as JSON")
    p.add_argument("--draft", metavar="DIR", help="also write a reply draft to review (DIR/reply-<MESSAGE>.eml)")
    p.add_argument("--block", action="store_true",
                   help="also reject the destination on every relay (as exitkit block; the next deploy rolls it out)")
    p.add_argument("--expires", metavar="YYYY-MM-DD", help="with --block: the day the block is reported as expired")
    p.set_defaults(func=cmd_complaint)
    p = sub.add_parser("deploy-path", help="the kit's deploy file, for: pyinfra INVENTORY $(exitkit deploy-path)")
    p.add_argument("--upgrade", action="store_true",
                   help="the deploy file that moves relays to the next Debian release instead")
    p.set_defaults(func=cmd_deploy_path)
    p = sub.add_parser("settings-table", help="print the README's settings table")
    p.set_defaults(func=cmd_settings_table)
    args = parser.parse_args(argv)
    return args.func(args)


def entry() -> int:
    """The console script: a reader that stops early (``| head``) ends the output quietly, as for any Unix tool."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the pipe again when it flushes stdout at exit: point stdout at nothing first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe stopped
    return code


if __name__ == "__main__":
    sys.exit(entry())
