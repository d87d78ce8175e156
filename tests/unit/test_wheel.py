"""The kit as an operator installs it: a built wheel in a fresh venv, used from a fleet folder with no checkout.

Templates and notice texts must come from the installed package, and the deploy file
must be found through ``exitkit deploy-path``. Builds and installs from PyPI (or
pip's cache); never contacts a relay. Takes about half a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
#: What a wheel is built from; copied, so the build leaves nothing in the checkout.
SOURCES = ("pyproject.toml", "README.md", "exitkit", "deploys", "templates")


def run(*command, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, text=True, capture_output=True)
    assert done.returncode == 0, \
        f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """A venv outside the tree (no system site-packages) holding only the wheel and its dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in SOURCES:
        if (PROJECT / name).is_dir():
            shutil.copytree(PROJECT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(PROJECT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", source, cwd=work)
    wheel, = (work / "dist").glob("exitkit-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work)
    run(venv / "bin/python", "-m", "pip", "install", "-q", wheel, cwd=work)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv, env


@pytest.fixture
def fleet(tmp_path) -> Path:
    """The demo fleet's folder as an operator's repository holds it: inventory and group data, nothing else."""
    (tmp_path / "inventory").mkdir()
    for path in (PROJECT / "inventory").glob("demo.*"):
        shutil.copy2(path, tmp_path / "inventory" / path.name)
    shutil.copytree(PROJECT / "group_data", tmp_path / "group_data")
    return tmp_path


def test_the_installed_kit_checks_and_renders_a_fleet(installed, fleet):
    venv, env = installed
    checked = run(venv / "bin/exitkit", "check", "inventory/demo.py", cwd=fleet, env=env)
    assert checked.stdout.count(" ok\n") == 3
    run(venv / "bin/exitkit", "render", "inventory/demo.py", "--out", "out/", cwd=fleet, env=env)
    relay = fleet / "out" / "relay-1"
    for path in ("var/www/exitkit/index.html", "var/www/exitkit/index.ja.html", "etc/tor/torrc",
                 "etc/lighttpd/lighttpd.conf", "var/www/exitkit/.well-known/security.txt"):
        assert (relay / path).stat().st_size > 0, path
    assert "<html" in (relay / "var/www/exitkit/index.html").read_text()
    assert "\nExitRelay 1\n" in (relay / "etc/tor/torrc").read_text()


def test_templates_come_from_the_installed_package(installed, fleet):
    venv, env = installed
    found = run(venv / "bin/python", "-c", "from exitkit import notice, templating; print(templating.TEMPLATES);"
                                           "print(notice.TEXTS_DIR)", cwd=fleet, env=env).stdout.split()
    for folder in found:
        assert Path(folder).is_dir() and Path(folder).is_relative_to(venv), folder
    assert Path(found[0]).name == "templates" and not Path(found[0]).is_relative_to(PROJECT)


def test_deploy_path_names_the_installed_deploy_file(installed, fleet):
    """What `pyinfra inventory/<fleet>.py $(exitkit deploy-path)` runs: a file (pyinfra takes no module path).

    Importing deploys.exit would queue operations, so the file is only compiled; its units are imported.
    """
    venv, env = installed
    deploy = Path(run(venv / "bin/exitkit", "deploy-path", cwd=fleet, env=env).stdout.strip())
    assert deploy.is_file() and deploy.name == "exit.py" and deploy.is_relative_to(venv)
    run(venv / "bin/python", "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')", deploy,
        cwd=fleet, env=env)
    run(venv / "bin/python", "-c", "import deploys.base, deploys.maintenance, deploys.notice, deploys.policy,"
                                   " deploys.resolver, deploys.reverse_dns, deploys.summary, deploys.tor",
        cwd=fleet, env=env)
    upgrade = Path(run(venv / "bin/exitkit", "deploy-path", "--upgrade", cwd=fleet, env=env).stdout.strip())
    assert upgrade.is_file() and upgrade == deploy.with_name("upgrade.py")
    run(venv / "bin/python", "-c", "import deploys.release_upgrade", cwd=fleet, env=env)
    assert (venv / "bin/pyinfra").is_file()
