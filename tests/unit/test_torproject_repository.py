"""The Tor Project's repository key step, run here with real gpg on keys made for the test (file:// URLs)."""

from __future__ import annotations

import subprocess

import pytest

from exitkit.tor import repository

gpg_env = {"PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Keys A and B: (folder serving A as <A>.asc, A, B, folder serving A and B as <A>.asc, one serving B so)."""
    home = tmp_path_factory.mktemp("gnupg")
    env = {**gpg_env, "GNUPGHOME": str(home)}

    def gpg(*args):
        return subprocess.run(["gpg", "--batch", "--quiet", *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    made = []
    for uid in ("test A", "test B"):
        gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1d")
        made.append(next(line.split(":")[9] for line in gpg("--with-colons", "--list-keys", uid).splitlines()
                         if line.startswith("fpr:")))
    alone, both, wrong = (tmp_path_factory.mktemp(name) for name in ("alone", "both", "wrong"))
    (wrong / f"{made[0]}.asc").write_text(gpg("--armor", "--export", made[1]))
    (alone / f"{made[0]}.asc").write_text(gpg("--armor", "--export", made[0]))
    (both / f"{made[0]}.asc").write_text(gpg("--armor", "--export", made[0], made[1]))
    return alone, made[0], made[1], both, wrong


def install(folder, fingerprint, keyring):
    script = repository.install_key_script(f"file://{folder}", fingerprint, str(keyring))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=gpg_env)


def keyring_keys(keyring):
    out = subprocess.run(["sh", "-c", repository.keyring_keys_command(str(keyring))], capture_output=True, text=True,
                         env=gpg_env).stdout
    return repository.parse_fingerprints(out.splitlines())


def test_the_pinned_key_is_taken_and_then_needs_nothing(keys, tmp_path):
    alone, a, _, _, _ = keys
    keyring = tmp_path / "keyring.gpg"
    assert keyring_keys(keyring) == []
    result = install(alone, " ".join(a[i:i + 4] for i in range(0, 40, 4)), keyring)  # as the setting spells it
    assert result.returncode == 0, result.stderr
    assert repository.keyring_holds_only(keyring_keys(keyring), a)


def test_another_key_under_the_pinned_name_is_refused(keys, tmp_path):
    _, a, b, _, wrong = keys
    keyring = tmp_path / "keyring.gpg"
    result = install(wrong, a, keyring)
    assert result.returncode == 1
    assert result.stderr.startswith(f"exitkit: signing key refused, not the pinned {a}: file://{wrong}/{a}.asc "
                                    f"serves {b} ")
    assert not keyring.exists()


def test_a_second_key_beside_the_pinned_one_is_refused(keys, tmp_path):
    _, a, b, both, _ = keys
    keyring = tmp_path / "keyring.gpg"
    result = install(both, a, keyring)
    assert result.returncode == 1
    assert result.stderr.startswith(f"exitkit: signing key refused, not the pinned {a}: ")
    assert b in result.stderr and not keyring.exists()


def test_a_keyring_with_another_key_too_is_replaced():
    assert not repository.keyring_holds_only(["A" * 40, "B" * 40], "A" * 40)
    assert repository.keyring_holds_only(["A" * 40], "AAAA " * 10)
