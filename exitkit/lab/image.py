"""What a lab relay is made of, and what the host needs to run it.

The image is built once per Debian release and recipe with mmdebstrap from the
Debian mirror this machine already uses; the hash of the recipe and the release
is the image tag, so a changed recipe builds a new image and an unchanged one is
reused. Inside the fence a relay reaches that mirror only through the control
machine's apt proxy (exitkit.lab.fence), which its apt is told to use. The host workarounds come
from the recipe known to work on our CI machines; each is applied only where it
is needed.
"""

from __future__ import annotations

import hashlib
import json
import re
import resource
import time
from pathlib import Path

from exitkit.lab import LAB
from exitkit.lab.addresses import APT_PROXY_NAME, APT_PROXY_PORT
from exitkit.lab.process import log, run

IMAGE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "sudo",
                  "iproute2", "ca-certificates")
# Part of the image tag's hash: a change here builds a new image.
IMAGE_HOOKS = (
    # host keys are made at first boot, so two relays never share them
    'rm -f "$1"/etc/ssh/ssh_host_*_key* "$1"/etc/hostname',
    ('mkdir -p "$1"/etc/systemd/system/ssh.service.d && printf "[Service]\\nExecStartPre=\\n'
     'ExecStartPre=/usr/bin/ssh-keygen -A\\nExecStartPre=/usr/sbin/sshd -t\\n" '
     '> "$1"/etc/systemd/system/ssh.service.d/hostkeys.conf'),
    # like a real server: the security suite is in apt's sources
    ('printf "deb %(mirror)s %(release)s main\\ndeb %(security)s %(release)s-security main\\n'
     'deb %(mirror)s %(release)s-updates main\\n" > "$1"/etc/apt/sources.list'),
    # the relay's only way to the mirror: the control machine's apt proxy, by a name each container is given
    ('printf \'Acquire::http::Proxy "http://%(proxy)s/";\\n\' > "$1"/etc/apt/apt.conf.d/01exitkit-lab-proxy'),
)
IMAGE_NAME = "localhost/exitkit-relay"
# The releases a lab relay can run: the two the kit supports, and one it must refuse.
RELEASES = ("trixie", "bookworm", "bullseye")
DEFAULT_RELEASE = "trixie"


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


def recipe_hooks(release: str) -> list[str]:
    """The customize hooks with the release, the mirror and the proxy filled in."""
    mirror = debian_mirror()
    values = {"mirror": mirror, "security": security_mirror(mirror), "release": release,
              "proxy": f"{APT_PROXY_NAME}:{APT_PROXY_PORT}"}
    return [hook % values if "%(" in hook else hook for hook in IMAGE_HOOKS]


def image_tag(release: str = DEFAULT_RELEASE) -> str:
    """The tag of one release's image: a hash of everything that goes into it, the release included."""
    if release not in RELEASES:
        raise ValueError(f"the lab builds relays of {', '.join(RELEASES)}, not {release!r}")
    recipe = json.dumps([release, IMAGE_PACKAGES, recipe_hooks(release), debian_mirror()])
    return f"{IMAGE_NAME}:{release}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def ensure_image(release: str = DEFAULT_RELEASE) -> str:
    """The image of the current recipe for a release, built with mmdebstrap if podman does not have it yet."""
    tag = image_tag(release)
    if run(["podman", "image", "exists", tag], check=False).returncode == 0:
        return tag
    mirror = debian_mirror()
    hooks = recipe_hooks(release)
    LAB.mkdir(parents=True, exist_ok=True)
    tar = LAB / f"rootfs-{release}.tar"
    log(f"building image {tag} with mmdebstrap from {mirror} (once per release and recipe)")
    started = time.monotonic()
    cmd = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(IMAGE_PACKAGES)]
    cmd += [f"--customize-hook={hook}" for hook in hooks]
    cmd += [release, str(tar), mirror]
    result = run(cmd, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed:\n{result.stderr[-3000:]}")
    run(["podman", "import", "-q", "--change", 'CMD=["/sbin/init"]', "--change", "STOPSIGNAL=SIGRTMIN+3",
         str(tar), tag])
    tar.unlink()
    log(f"image built in {time.monotonic() - started:.0f}s")
    return tag
