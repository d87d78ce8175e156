"""Disposable local relays: Debian 12 containers with systemd and sshd, on rootful podman.

Used by the demo (``./kit demo``), the tests and the benchmark, so all three
deploy to the same kind of machine over SSH with the real ``pyinfra`` command.
Relays are reached only through ports published on 127.0.0.1 (ssh, http) and
``podman exec``. Host workarounds come from the recipe known to work on our
CI machines; each is applied only where it is needed.

    python -m exitkit.localfleet demo            # 3 relays + deploy, reused if up
    python -m exitkit.localfleet up --name x --size 5
    python -m exitkit.localfleet down --name demo
    python -m exitkit.localfleet rehearse inventory/<fleet>.py [--keep]
                                                 # the operator's fleet, rehearsed on local relays
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
LAB = Path(os.environ.get("EXITKIT_LAB", PROJECT / ".lab"))

# What the image is made of. Its hash is the image tag: a changed recipe builds a
# new image, an unchanged one is reused.
IMAGE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo",
                  "iproute2", "ca-certificates")
IMAGE_HOOKS = (
    # host keys are made at first boot, so two relays never share them
    'rm -f "$1"/etc/ssh/ssh_host_*_key* "$1"/etc/hostname',
    'mkdir -p "$1"/etc/systemd/system/ssh.service.d && printf "[Service]\\nExecStartPre=\\n'
    'ExecStartPre=/usr/bin/ssh-keygen -A\\nExecStartPre=/usr/sbin/sshd -t\\n" '
    '> "$1"/etc/systemd/system/ssh.service.d/hostkeys.conf',
    # like a real server: the security suite is in apt's sources
    'printf "deb %(mirror)s bookworm main\\ndeb %(security)s bookworm-security main\\n'
    'deb %(mirror)s bookworm-updates main\\n" > "$1"/etc/apt/sources.list',
)
IMAGE_NAME = "localhost/exitkit-relay"


def run(cmd: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=capture, **kw)


def log(message: str) -> None:
    print(f"[localfleet] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ host set-up
def debian_mirror() -> str:
    """The Debian mirror this machine already uses, so relays install from it too."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("deb ") and "security" not in line:
                return line.split()[1]
    return "http://deb.debian.org/debian"


def security_mirror(mirror: str) -> str:
    return re.sub(r"/debian/?$", "/debian-security", mirror)


def prepare_host() -> None:
    """The recipe's workarounds, each only where it is needed."""
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if unified.exists():
        # crun refuses a cgroup v1/v2 hybrid while cgroup2 still owns controllers
        for controller in unified.read_text().split():
            target = Path("/sys/fs/cgroup") / controller
            target.mkdir(exist_ok=True)
            if run(["mountpoint", "-q", str(target)], check=False).returncode != 0:
                run(["mount", "-t", "cgroup", "-o", controller, "cgroup", str(target)])
    # every systemd container eats ~5 inotify instances; 128 stalls boots at ~22
    for key, want in (("fs.inotify.max_user_instances", 8192), ("fs.inotify.max_user_watches", 524288)):
        path = Path("/proc/sys") / key.replace(".", "/")
        if int(path.read_text()) < want:
            path.write_text(str(want))


def ulimit_flags() -> list[str]:
    """Limits podman can really grant here (it cannot raise NOFILE without CAP_SYS_RESOURCE)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
    nproc = 32768 if nproc == resource.RLIM_INFINITY or nproc > 32768 else nproc
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def image_tag() -> str:
    recipe = json.dumps([IMAGE_PACKAGES, IMAGE_HOOKS, debian_mirror()])
    return f"{IMAGE_NAME}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_image() -> str:
    tag = image_tag()
    if run(["podman", "image", "exists", tag], check=False).returncode == 0:
        return tag
    mirror = debian_mirror()
    hooks = [h % {"mirror": mirror, "security": security_mirror(mirror)} if "%(" in h else h for h in IMAGE_HOOKS]
    LAB.mkdir(parents=True, exist_ok=True)
    tar = LAB / "rootfs.tar"
    log(f"building image {tag} with mmdebstrap from {mirror} (once per recipe)")
    started = time.monotonic()
    cmd = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(IMAGE_PACKAGES)]
    cmd += [f"--customize-hook={hook}" for hook in hooks]
    cmd += ["bookworm", str(tar), mirror]
    result = run(cmd, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed:\n{result.stderr[-3000:]}")
    run(["podman", "import", "-q", "--change", 'CMD=["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
         str(tar), tag])
    tar.unlink()
    log(f"image built in {time.monotonic() - started:.0f}s")
    return tag


# ------------------------------------------------------------------ fleets
@dataclass(frozen=True)
class LabRelay:
    name: str          # inventory host name, also the container's hostname
    container: str
    ssh_port: int
    http_port: int


# Each local fleet gets its own ports and subnet, so the demo and a test run can coexist.
FLEET_SLOTS = {"demo": 0, "test": 1, "bench": 2, "rehearse": 3}


@dataclass(frozen=True)
class LocalFleet:
    name: str
    size: int

    @property
    def slot(self) -> int:
        return FLEET_SLOTS.get(self.name, 3)

    @property
    def dir(self) -> Path:
        return LAB / self.name

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def network(self) -> str:
        return f"exitkit-{self.name}"

    @property
    def resolver(self) -> str:
        """podman's DNS server on the fleet's network: test relays forward to it, never to the root."""
        return f"10.89.{100 + self.slot}.1"

    def relay(self, i: int) -> LabRelay:
        base = 2200 + 100 * self.slot
        return LabRelay(f"relay-{i}", f"exitkit-{self.name}-{i}", base + i, 8000 + 100 * self.slot + i)

    @property
    def relays(self) -> list[LabRelay]:
        return [self.relay(i) for i in range(1, self.size + 1)]

    def connection(self, relay: LabRelay) -> dict:
        """pyinfra SSH data for a relay (the lab's throw-away key; host keys are new each boot)."""
        return {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": relay.ssh_port,
            "ssh_user": "root",
            "ssh_key": str(self.key),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "off",
        }

    def running(self) -> list[str]:
        out = run(["podman", "ps", "--format", "{{.Names}}", "--filter", f"name=^exitkit-{self.name}-"], check=False)
        return sorted(out.stdout.split())

    def up(self) -> None:
        """Start missing relays; relays already running are reused as they are."""
        prepare_host()
        image = ensure_image()
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)])
        if run(["podman", "network", "exists", self.network], check=False).returncode != 0:
            run(["podman", "network", "create", "--subnet", f"10.89.{100 + self.slot}.0/24", self.network])
        running = set(self.running())
        started = []
        for relay in self.relays:
            if relay.container in running:
                continue
            run(["podman", "rm", "-f", "-t", "0", relay.container], check=False)
            run(["podman", "run", "-d", "--name", relay.container, "--hostname", relay.name,
                 "--systemd=always", *ulimit_flags(),
                 # nftables inside the relay; a reboot inside the relay brings it back
                 "--cap-add", "NET_ADMIN", "--restart=always",
                 "--network", self.network,
                 "-p", f"127.0.0.1:{relay.ssh_port}:22", "-p", f"127.0.0.1:{relay.http_port}:80",
                 "-v", f"{self.key}.pub:/root/.ssh/authorized_keys:ro",
                 "--label", f"exitkit.fleet={self.name}", image])
            started.append(relay)
        for relay in started:
            self.wait_ready(relay)
        if started:
            log(f"{self.name}: started {', '.join(r.container for r in started)}")

    def wait_ready(self, relay: LabRelay, timeout: float = 120) -> None:
        """Until systemd has finished booting and sshd answers on the published port."""
        deadline = time.monotonic() + timeout
        run(["timeout", str(int(timeout)), "podman", "exec", relay.container,
             "systemctl", "is-system-running", "--wait"], check=False)
        while time.monotonic() < deadline:
            if ssh_banner(relay.ssh_port):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{relay.container}: sshd did not answer on 127.0.0.1:{relay.ssh_port}")

    def down(self) -> None:
        """Remove this fleet's containers and network; the image stays for next time."""
        names = run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=exitkit.fleet={self.name}"],
                    check=False).stdout.split()
        if names:
            run(["podman", "rm", "-f", "-t", "0", *names], check=False)
        run(["podman", "network", "rm", "-f", self.network], check=False)


def ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def pid1_started(container: str) -> str:
    """When PID 1 of a relay started (its boot id is the host's, so this tells a reboot)."""
    return run(["podman", "exec", container, "ps", "-o", "lstart=", "-p", "1"]).stdout.strip()


def restart_count(container: str) -> int:
    return int(run(["podman", "inspect", "--format", "{{.RestartCount}}", container]).stdout.strip() or 0)


# ------------------------------------------------------------------ pyinfra
def pyinfra_command() -> str:
    exe = Path(sys.executable).with_name("pyinfra")
    return str(exe if exe.exists() else "pyinfra")


def pyinfra(inventory: Path, *args: str, cwd: Path = PROJECT, deploy: Path | None = None,
            env: dict | None = None, yes: bool = True) -> subprocess.CompletedProcess:
    """Run the real pyinfra command line (from the same environment as this Python).

    ``yes=False`` leaves out ``-y``: pyinfra then detects changes first, which is
    what shows a ``--dry --diff`` preview.
    """
    cmd = [pyinfra_command(), *(("-y",) if yes else ()), str(inventory), str(deploy or PROJECT / "deploys" / "exit.py"), *args]
    return run(cmd, check=False, cwd=cwd, env={**os.environ, **(env or {})})


# ------------------------------------------------------------------ fleet folders
INVENTORY_LOADER = "from exitkit.fleet import pyinfra_inventory; globals().update(pyinfra_inventory(__file__))  # noqa\n"
GROUP_LOADER = "from exitkit.fleet import group_settings; globals().update(group_settings(__file__))  # noqa\n"


def write_fleet_folder(folder: Path, fleet_name: str, inventory: dict, group_data: dict) -> Path:
    """An operator-style fleet folder (inventory/<fleet>.yml and .py, group_data/<group>.yml and .py).

    ``inventory`` is group -> host -> settings, ``group_data`` group -> settings.
    Group files from an earlier write are removed first. Returns inventory/<fleet>.py.
    """
    import yaml

    (folder / "inventory").mkdir(parents=True, exist_ok=True)
    (folder / "group_data").mkdir(exist_ok=True)
    (folder / "inventory" / f"{fleet_name}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (folder / "inventory" / f"{fleet_name}.py").write_text(INVENTORY_LOADER)
    for old in (folder / "group_data").glob("*"):
        old.unlink()
    for group, data in group_data.items():
        (folder / "group_data" / f"{group}.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        (folder / "group_data" / f"{group}.py").write_text(GROUP_LOADER)
    return folder / "inventory" / f"{fleet_name}.py"


def changed_operations(json_stdout: str) -> dict[str, list[str]]:
    """From `pyinfra --json` results: operation name -> hosts it changed."""
    operations = json.loads(json_stdout)["results"]["operations"]
    return {op["name"]: op["success"] for op in operations if op["success"]}


# ------------------------------------------------------------------ rehearsal of an operator's fleet
REHEARSAL = "test_rehearsal"  # the rehearsal's inventory name: a test fleet, so test_network_off draws no warning


def _yaml_value(value):
    return [_yaml_value(v) for v in value] if isinstance(value, (tuple, list)) else value


def rehearsal_settings(lab: LocalFleet) -> dict:
    """Set on every rehearsal host (the host layer wins): the lab relays stay off every real network."""
    return {"test_network_off": True, "dns_forwarders": [lab.resolver],
            "key_backup_dir": ""}  # throw-away keys never land in the operator's backup folder


def write_rehearsal(inventory: Path, lab: LocalFleet, folder: Path, cwd: Path | None = None) -> Path:
    """The operator's fleet with its hosts moved onto the lab's relays; returns the rehearsal inventory.

    Same groups, group data and host settings (validated by exitkit.fleet first);
    each host keeps its name but its ssh_* keys point at one lab relay, in the
    fleet's order; the fleet's own group is renamed with the fleet. Connection
    keys set in group data are left out: they describe the real servers.
    """
    from exitkit.loader import group_data_dirs, load_fleet, load_group_files
    from exitkit.settings import CONNECTION_KEYS, SETTINGS

    fleet = load_fleet(inventory, cwd)
    own = {fleet.name: REHEARSAL}
    errors: list = []
    groups = load_group_files(group_data_dirs(Path(inventory), cwd), errors)
    group_data = {own.get(name, name): {k: _yaml_value(v) for k, v in values.items() if k not in CONNECTION_KEYS}
                  for name, (values, _) in groups.items()}
    hosts: dict[str, dict] = {}
    for i, relay in enumerate(fleet.relays, 1):
        mine = {key: _yaml_value(getattr(relay.settings, key)) for key, (_, where) in relay.sources.items()
                if where == f"host '{relay.name}'" and key in SETTINGS}
        data = {**mine, **lab.connection(lab.relay(i)), **rehearsal_settings(lab)}
        for n, group in enumerate(relay.groups[2:] or (REHEARSAL,)):
            hosts.setdefault(own.get(group, group), {})[relay.name] = data if n == 0 else None
    return write_fleet_folder(folder, REHEARSAL, hosts, group_data)


def rehearse(args: argparse.Namespace) -> int:
    """Bring up as many lab relays as the fleet has, converge them twice; the second run must change nothing."""
    from exitkit.fleet import load_valid_fleet as _load  # the same validation and messages as `exitkit check` (exit 2)

    fleet, _ = _load(args.inventory)
    lab = LocalFleet("rehearse", len(fleet.relays))
    lab.down()  # a rehearsal left over by an interrupted run
    try:
        lab.up()
        folder = lab.dir / "fleet"
        shutil.rmtree(folder, ignore_errors=True)
        rehearsal = write_rehearsal(Path(args.inventory), lab, folder)
        for i, relay in enumerate(fleet.relays, 1):
            print(f"{relay.name}: rehearsed on {lab.relay(i).container} (ssh 127.0.0.1:{lab.relay(i).ssh_port})")
        for attempt in ("first", "second"):
            log(f"rehearsal: {attempt} run of pyinfra {rehearsal.relative_to(folder)} deploys/exit.py")
            result = pyinfra(rehearsal, "--json", cwd=folder)
            if result.returncode != 0:
                print(f"rehearsal: the {attempt} run failed (exit {result.returncode}):\n{result.stderr[-4000:]}",
                      file=sys.stderr)
                return 1
            changed = changed_operations(result.stdout)
            count = sum(len(hosts) for hosts in changed.values())
            print(f"rehearsal: {attempt} run converged {len(fleet.relays)} relays, {count} changes")
        if changed:
            print("rehearsal: the second run changed what the first had converged:", file=sys.stderr)
            for name, hosts in changed.items():
                print(f"  {name}: {', '.join(hosts)}", file=sys.stderr)
            return 1
        print("rehearsal: ok, a second run changes nothing")
        return 0
    finally:
        if args.keep:
            log(f"kept: relays {', '.join(r.container for r in lab.relays)}; fleet folder {lab.dir / 'fleet'}; "
                f"remove with: python -m exitkit.localfleet down --name rehearse")
        else:
            lab.down()


def demo(args: argparse.Namespace) -> int:
    fleet = LocalFleet("demo", 3)
    fleet.up()
    inventory = PROJECT / "inventory" / "demo.py"
    log("converging the demo fleet: pyinfra inventory/demo.py deploys/exit.py")
    result = subprocess.run([pyinfra_command(), "-y", str(inventory),
                             str(PROJECT / "deploys" / "exit.py")], cwd=PROJECT)
    if result.returncode != 0:
        return result.returncode
    print("\nThe demo relays answer here:")
    for relay in fleet.relays:
        print(f"  {relay.name}: http://127.0.0.1:{relay.http_port}/   (ssh: port {relay.ssh_port}, "
              f"container {relay.container})")
    print("Run it again to re-converge; ./kit demo-down removes the relays.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exitkit.localfleet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="bring up (or reuse) 3 relays and converge them")
    for name in ("up", "down"):
        p = sub.add_parser(name)
        p.add_argument("--name", default="demo")
        p.add_argument("--size", type=int, default=3)
    sub.add_parser("image", help="build the relay image if its recipe changed")
    p = sub.add_parser("rehearse", help="converge the fleet's shape on local relays twice; fail if the second run changes")
    p.add_argument("inventory", help="inventory/<fleet>.py, run from the fleet's folder")
    p.add_argument("--keep", action="store_true", help="leave the relays running afterwards")
    args = parser.parse_args(argv)
    if shutil.which("podman") is None:
        print("podman is not installed: run ./kit setup first", file=sys.stderr)
        return 2
    if args.command == "demo":
        return demo(args)
    if args.command == "rehearse":
        return rehearse(args)
    if args.command == "image":
        prepare_host()
        print(ensure_image())
        return 0
    fleet = LocalFleet(args.name, args.size)
    fleet.up() if args.command == "up" else fleet.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
