"""The fleet as a complainant sees it: each relay's notice page, exit policy and security.txt, fetched from outside.

A deploy that succeeded says what was written; this says what is served. It
runs on the control machine with plain HTTP requests and compares what each
relay serves with what its settings say it must serve.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import requests

from exitkit.https import renewal_due
from exitkit.model import Fleet, Relay
from exitkit.notice import EXIT_POLICY_PATH, SECURITY_TXT_PATH, mailto, tel
from exitkit.plan import RelayPlan, exit_policy_of
from exitkit.policy import policy_id, render_nym
from exitkit.settings import RelaySettings

HTML, TEXT = "text/html; charset=utf-8", "text/plain; charset=utf-8"
PAGES = (("/", HTML), (EXIT_POLICY_PATH, TEXT), (SECURITY_TXT_PATH, TEXT))
# What templates/lighttpd/lighttpd.conf.j2 adds to every answer: header -> how its value must begin
HEADERS = {
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class RelayCheck:
    relay: str
    url: str  # where the notice page was asked for
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def notice_url(settings: RelaySettings, hostname: str = "") -> str:
    """Where the relay's notice page answers: notice_url, else its public address (or name) and http_port."""
    if settings.notice_url:
        return settings.notice_url if settings.notice_url.endswith("/") else settings.notice_url + "/"
    host = settings.public_ipv4 or (f"[{settings.public_ipv6}]" if settings.public_ipv6 else hostname)
    if not host:
        return ""
    return f"http://{host}/" if settings.http_port == 80 else f"http://{host}:{settings.http_port}/"


def exit_policy_url(settings: RelaySettings, hostname: str = "") -> str:
    """Where the relay serves its machine-readable exit policy ("" without an address to name)."""
    base = notice_url(settings, hostname)
    return base + "exit-policy.txt" if base else ""


def nym_policy_instruction(settings: RelaySettings, hostname: str = "") -> tuple[str, str]:
    """How to make nym-node follow the relay's own policy file (exitkit does not configure nym-node): two lines
    short enough for the run's summary, the second the config.toml line itself."""
    url = exit_policy_url(settings, hostname) or f"http://<this relay's address>{EXIT_POLICY_PATH}"
    return ("For nym-node (not run by exitkit) to follow this policy, add to config.toml and restart:",
            f"[exit_gateway] upstream_exit_policy_url = '{url}'")


def _first_difference(served: str, expected: str) -> str:
    served_lines, expected_lines = served.splitlines(), expected.splitlines()
    for number, (got, want) in enumerate(zip(served_lines, expected_lines, strict=False), start=1):
        if got != want:
            return f"line {number} is {got!r}, expected {want!r}"
    if len(served_lines) != len(expected_lines):
        number = min(len(served_lines), len(expected_lines)) + 1
        return f"it has {len(served_lines)} lines, expected {len(expected_lines)} (from line {number} on)"
    return "it differs in line endings or the final newline"


def _security_txt_problems(text: str, settings: RelaySettings, now: datetime) -> list[str]:
    fields = [line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#")]
    contacts = {value.strip() for key, value in fields if key.strip().lower() == "contact"}
    wanted = [c for c in (mailto(settings.abuse_email or ""), tel(settings.phone) if settings.phone else "") if c]
    problems = [f"{SECURITY_TXT_PATH} lacks 'Contact: {c}'" for c in wanted if c not in contacts]
    expires = [value.strip() for key, value in fields if key.strip().lower() == "expires"]
    try:
        if len(expires) != 1 or datetime.fromisoformat(expires[0]) <= now:
            problems.append(f"{SECURITY_TXT_PATH} expected one Expires in the future, got {expires or 'none'}")
    except ValueError:
        problems.append(f"{SECURITY_TXT_PATH} expected an ISO 8601 Expires, got {expires[0]!r}")
    return problems


def check_relay(relay: Relay, plan: RelayPlan, session: requests.Session | None = None,
                timeout: float = 10.0, now: datetime | None = None) -> RelayCheck:
    """Fetch the relay's three public files and list everything that is not as its settings say."""
    s = relay.settings
    base = notice_url(s, plan.hostname)
    if not base:
        return RelayCheck(relay.name, "", ("no address to ask: set notice_url, public_ipv4, public_ipv6 or domain",))
    session = session or _session()
    now = now or datetime.now(UTC)
    problems: list[str] = []
    served: dict[str, bytes] = {}
    for path, content_type in PAGES:
        url = base.rstrip("/") + path
        try:
            answer = session.get(url, timeout=timeout, allow_redirects=False)
        except requests.RequestException as error:
            problems.append(f"{path} could not be fetched from {url}: {type(error).__name__}: {error}")
            continue
        if answer.status_code != 200:
            problems.append(f"{path} answered {answer.status_code}, expected 200")
            continue
        got = answer.headers.get("Content-Type", "")
        if got != content_type:
            problems.append(f"{path} has Content-Type {got!r}, expected {content_type!r}")
        for header, start in HEADERS.items():
            value = answer.headers.get(header)
            if value is None or not value.startswith(start):
                problems.append(f"{path} has {header} {value!r}, expected one beginning {start!r}")
        served[path] = answer.content
        text = answer.content.decode("utf-8", errors="replace")
        if path == EXIT_POLICY_PATH:
            policy = exit_policy_of(s)
            expected = render_nym(policy)
            if text != expected:
                problems.append(f"{path} is not the policy in the settings (policy id {policy_id(policy)}): "
                                + _first_difference(text, expected))
        elif path == SECURITY_TXT_PATH:
            problems += _security_txt_problems(text, s, now)
        elif f'href="{mailto(s.abuse_email or "")}' not in text:
            problems.append(f"{path} does not link the abuse address {s.abuse_email}")
    if not problems:
        problems += https_problems(s, plan.hostname, urlparse(base).hostname or "", served, timeout, now)
    return RelayCheck(relay.name, base, tuple(problems))


@dataclass(frozen=True)
class TlsAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    certificate: dict  # ssl's getpeercert(): notBefore, notAfter, subjectAltName, serialNumber


def fetch_tls(address: str, port: int, name: str, path: str, cafile: str | None = None,
              timeout: float = 10.0) -> TlsAnswer:
    """GET ``path`` over TLS from address:port, the certificate verified for ``name`` (a DNS name or an address)
    against the system's CAs (OpenSSL's ``SSL_CERT_FILE`` names others) or ``cafile``; HTTP/1.0, so the body
    ends when the connection does."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((address, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        certificate = tls.getpeercert() or {}
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return TlsAnswer(int(lines[0].split()[1]), headers, body, certificate)


def https_problems(s: RelaySettings, hostname: str, connect: str, served: dict[str, bytes], timeout: float,
                   now: datetime) -> list[str]:
    """HTTPS where the relay asks a CA: the certificate valid for its name and (IP certificates) its address, not
    within the renewal margin, and the same files over HTTPS as over HTTP (``served``: path -> HTTP body).

    ``connect`` is where the HTTP check reached the relay (notice_url's host, else its public address)."""
    address = s.public_ipv4 or s.public_ipv6
    names = [n for n in (hostname, address if s.acme_ip_certificates else "") if n]
    if not (s.https_port and s.acme_terms_accepted and names and connect):
        return []
    where = f"{connect}:{s.https_port}"
    problems = []
    for name in names:
        try:
            answer = fetch_tls(connect, s.https_port, name, "/", timeout=timeout)
        except (OSError, ssl.SSLError) as error:
            problems.append(f"HTTPS on {where} for {name}: {type(error).__name__}: {error}")
            continue
        start, end = (datetime.fromtimestamp(ssl.cert_time_to_seconds(answer.certificate[k]), UTC)
                      for k in ("notBefore", "notAfter"))
        if renewal_due(start, end, now):
            problems.append(f"HTTPS certificate for {name} expires {end:%Y-%m-%d %H:%M} UTC: within the renewal "
                            "margin (the last third of its life), so its renewal is failing")
    if problems:
        return problems
    for path, body in served.items():
        answer = fetch_tls(connect, s.https_port, names[0], path, timeout=timeout)
        if answer.status != 200 or answer.body != body:
            problems.append(f"{path} over HTTPS (status {answer.status}) is not what HTTP serves")
        for header, start_text in HEADERS.items():
            if not answer.headers.get(header, "").startswith(start_text):
                problems.append(f"{path} over HTTPS has {header} {answer.headers.get(header)!r}, "
                                f"expected one beginning {start_text!r}")
    return problems


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: ask the relay itself
    return session


def check_fleet(fleet: Fleet, plans: dict[str, RelayPlan], timeout: float = 10.0) -> list[RelayCheck]:
    session = _session()
    return [check_relay(relay, plans[relay.name], session, timeout) for relay in fleet.relays]


def to_json(checks: list[RelayCheck]) -> dict:
    return {"ok": all(c.ok for c in checks), "relays": [{**asdict(c), "ok": c.ok} for c in checks]}


def report_text(checks: list[RelayCheck]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.relay} ({c.url or 'no address'}): " + ("ok" if c.ok else f"{len(c.problems)} problem(s)"))
        lines += [f"  - {problem}" for problem in c.problems]
    wrong = [c.relay for c in checks if not c.ok]
    lines.append("Every relay serves what its settings say." if not wrong else "Wrong: " + ", ".join(wrong))
    return "\n".join(lines)
