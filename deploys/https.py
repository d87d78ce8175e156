"""HTTPS for the notice page: the relay asks its CA (ACME, HTTP-01 over its own lighttpd) and renews by a timer.

Never worse than HTTP alone: a CA that cannot be reached, a rate limit or a failed
challenge leaves the HTTP page answering and the served certificate in place, and
the CA's message becomes a note in the fleet summary, not a failed run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, deploy
from pyinfra.operations import python

from deploys.context import relay_plan, relay_settings
from deploys.ops import units, write_configs
from deploys.release import relay_release
from deploys.summary import note, note_for
from exitkit.configfile import UNITS, by_path
from exitkit.https import (
    ACME_CONFIG,
    ACME_DIR,
    ACME_DOMAINS,
    ACME_FAILURE,
    ACME_HOOK,
    ACME_RENEW,
    RENEW_UNIT,
    ServedCertificate,
    ca_message,
    certificate_plan,
    https_files,
    needs_asking,
    parse_served,
)
from exitkit.notice.files import TLS_LIVE
from exitkit.remote import Folder, WantedUnit

NAMES = {
    ACME_CONFIG: "ACME client (dehydrated) configuration",
    ACME_DOMAINS: "Names and addresses the certificate carries",
    ACME_HOOK: "ACME hook: lighttpd -tt, then the new certificate, then a reload",
    ACME_RENEW: "Certificate renewal script",
    f"{UNITS}/{RENEW_UNIT}.service": "Certificate renewal service",
    f"{UNITS}/{RENEW_UNIT}.timer": "Certificate renewal timer",
}


class ServedCertificateFact(FactBase):
    """The certificate lighttpd serves (dates, serial, names) and the CA's message of the last failed attempt."""

    def command(self) -> str:
        return (f"f={TLS_LIVE}/fullchain.pem; if [ -s $f ]; then openssl x509 -in $f -noout -startdate -enddate "
                f"-serial -ext subjectAltName; fi; echo --; cat {ACME_FAILURE} 2>/dev/null; true")

    @staticmethod
    def default() -> ServedCertificate:
        return ServedCertificate()

    def process(self, output) -> ServedCertificate:
        return parse_served("\n".join(output))


def _ask_ca(directory: str, served: ServedCertificate) -> None:
    """Run the renewal script now; a failure is a note with the CA's words, never a failed run."""
    ok, output = host.run_shell_command(StringCommand(ACME_RENEW))
    if ok:
        return
    text = "\n".join(output.stdout_lines + output.stderr_lines) if output else ""
    note_for(host, f"HTTPS: CA refused or unreachable, {_kept(served)}: {ca_message(text)} ({directory})")


def _kept(served: ServedCertificate) -> str:
    """What visitors get meanwhile, in a note's few words (the summary has 100 columns)."""
    return f"cert kept to {served.not_after:%Y-%m-%d}" if served.present else "HTTP only"


@deploy("HTTPS for the notice page")
def https_certificate():
    release = relay_release()
    if release is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings = relay_settings()
    plan = certificate_plan(settings, relay_plan().hostname, release)
    for line in plan.notes:
        note(line)
    if plan.why_not:
        if settings.https_port and settings.acme_terms_accepted:
            note(plan.why_not)  # the operator asked for HTTPS and cannot have it: say why
        return
    files_wanted = list(by_path(https_files(settings, plan)).values())
    # ACME's configuration folder, and its state folder (account key, certificates) for root only
    write_configs(files_wanted, folders=[Folder("/etc/exitkit/acme", mode=755), Folder(ACME_DIR, mode=700)],
                  name="; ".join(NAMES[file.path] for file in files_wanted))
    units(name="Renewal timer enabled and running", wanted=[WantedUnit(f"{RENEW_UNIT}.timer")])
    served: ServedCertificate = host.get_fact(ServedCertificateFact)
    if needs_asking(served, plan, datetime.now(UTC)):
        python.call(name="Certificate from the CA (ACME HTTP-01)", function=_ask_ca,
                    directory=settings.acme_directory, served=served)
    elif served.last_failure:
        note(f"HTTPS renewal failed, {_kept(served)}: {ca_message(served.last_failure)}")
