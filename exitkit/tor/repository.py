"""The Tor Project's package repository on a relay: its signing key, pinned by fingerprint, and apt reading it.

Pure logic: the commands a deploy runs on the relay and the reading of what they
print. The key is taken only if the file served holds exactly one primary key,
the pinned one (a second key beside it would sign for the repository too); apt
then checks every Release of the repository against that key alone
(``signed-by``), so the repository may be served over http.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

# Prints the primary keys of an OpenPGP file (gpg --with-colons), one fingerprint a line; its subkeys are left out.
_PRIMARY_FINGERPRINTS = ("awk -F: '$1==\"pub\"{p=1;next} $1==\"fpr\"&&p{print $10} {p=0}'")


def compact_fingerprint(fingerprint: str) -> str:
    """'A3C4 F0F9 ...' -> 'A3C4F0F9...': as gpg prints it and as the key's file is named in the repository."""
    return fingerprint.replace(" ", "").upper()


def key_url(repository: str, fingerprint: str) -> str:
    """Where the repository keeps its signing key: ``<repository>/<FINGERPRINT>.asc`` (as deb.torproject.org)."""
    return f"{repository.rstrip('/')}/{compact_fingerprint(fingerprint)}.asc"


def keyring_keys_command(keyring: str) -> str:
    """Prints the primary fingerprints the keyring holds; nothing when it or gpg is missing (a fresh relay)."""
    path = shlex.quote(keyring)
    return (f"if command -v gpg >/dev/null && test -s {path}; then "
            f"gpg --batch --show-keys --with-colons {path} 2>/dev/null | {_PRIMARY_FINGERPRINTS}; fi; true")


def parse_fingerprints(lines: Iterable[str]) -> list[str]:
    return [line.strip().upper() for line in lines if line.strip()]


def keyring_holds_only(fingerprints: list[str], fingerprint: str) -> bool:
    """Whether a keyring holds the pinned key and no other (then there is nothing to do)."""
    return fingerprints == [compact_fingerprint(fingerprint)]


def install_key_script(repository: str, fingerprint: str, keyring: str) -> str:
    """Fetch ``<repository>/<FINGERPRINT>.asc``, refuse it unless its only primary key is the pinned one, then
    replace the keyring by rename. A refusal's first line on stderr says so first, then what was served."""
    url, want, path = key_url(repository, fingerprint), compact_fingerprint(fingerprint), shlex.quote(keyring)
    fetch = ("import sys, urllib.request; "
             "sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=60).read())")
    return "\n".join((
        "tmp=$(mktemp) && trap 'rm -f \"$tmp\" \"$tmp.err\"' EXIT || exit 1",
        f"url={shlex.quote(url)}",
        f"python3 -c {shlex.quote(fetch)} \"$url\" > \"$tmp\" 2> \"$tmp.err\" || {{",
        "  echo \"exitkit: could not fetch the repository's signing key from $url: $(tail -n 1 \"$tmp.err\")\" >&2",
        "  exit 1; }",
        f"got=$(gpg --batch --show-keys --with-colons \"$tmp\" 2>/dev/null | {_PRIMARY_FINGERPRINTS} | tr '\\n' ' ')",
        f"if [ \"$got\" != {shlex.quote(want + ' ')} ]; then",
        f"  echo \"exitkit: signing key refused, not the pinned {want}: $url serves ${{got:-no OpenPGP key }}"
        "(nothing is installed from this repository)\" >&2",
        "  exit 1; fi",
        f"gpg --batch --yes --dearmor < \"$tmp\" > {path}.exitkit-new && chmod 644 {path}.exitkit-new "
        f"&& mv -f {path}.exitkit-new {path}",
    ))


def source_in_policy(repository: str, codename: str) -> str:
    """How ``apt-cache policy`` names the repository once apt has read its signed index ('<url> <codename>/main')."""
    return f" {repository.rstrip('/')} {codename}/main "


def apt_knows_command(repository: str, codename: str) -> str:
    """Prints 'yes' when apt has read the repository's signed index (it is in apt-cache policy), else 'no'."""
    return f"apt-cache policy 2>/dev/null | grep -qF {shlex.quote(source_in_policy(repository, codename))} " \
           "&& echo yes || echo no"


def read_repository_script(repository: str, codename: str) -> str:
    """apt-get update, which must end with apt knowing the repository: a Release not signed by the pinned key
    fails here, with apt's own line about this repository first on stderr; apt's full output follows."""
    repo, line = shlex.quote(repository.rstrip("/")), shlex.quote(source_in_policy(repository, codename))
    return "\n".join((
        "out=$(apt-get update -q 2>&1); rc=$?",
        f"if [ $rc -ne 0 ] || ! apt-cache policy 2>/dev/null | grep -qF {line}; then",
        f"  cause=$(printf '%s\\n' \"$out\" | grep -F {repo} | grep -E '^E:' | head -n 1)",
        f"  [ -n \"$cause\" ] || cause=$(printf '%s\\n' \"$out\" | grep -F {repo} | grep -E '^(W|Err):' | head -n 1)",
        "  echo \"exitkit: apt refused the repository, nothing is installed from it: "
        f"${{cause:-apt-get update exit $rc for {repository.rstrip('/')} {codename}}}\" >&2",
        "  printf '%s\\n' \"$out\" >&2; exit 1; fi",
    ))
