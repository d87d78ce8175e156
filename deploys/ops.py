"""Operations the units share: a config file that its own program checks first."""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand, operation
from pyinfra.api.output import format_text
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.operations.util.files import generate_color_diff

from exitkit.configfile import ConfigFile
from exitkit.control import write_secret


@operation()
def checked_file(content: str | bytes, dest: str, check: str | None = None, mode: int = 644,
                 user: str = "root", group: str = "root", secret: bool = False, in_place: bool = False):
    """Put ``content`` at ``dest`` only after ``check`` accepted it.

    The new file is uploaded beside the old one, ``check`` (a command with
    ``{path}`` for the new file) must exit 0, and only then does a rename replace
    the old file: a broken config never replaces a working one, and the run fails
    with the checking program's own message. Unchanged content is a no-op.
    ``secret`` files are never shown in a diff; ``in_place`` files (a container
    engine's bind-mounted /etc/resolv.conf) are overwritten instead of renamed.
    """
    data = content.encode() if isinstance(content, str) else content
    remote = host.get_fact(File, path=dest)
    want = hashlib.sha1(data).hexdigest()
    if remote and host.get_fact(Sha1File, path=dest) == want:
        if (remote["mode"], remote["user"], remote["group"]) != (mode, user, group):
            yield StringCommand("chown", f"{user}:{group}", dest)
            yield StringCommand("chmod", str(mode), dest)
        else:
            host.noop(f"{dest} is up to date")
        return
    if state.config.DIFF and secret:
        host.log(f"Will {'replace' if remote else 'create'} {format_text(dest, bold=True)} (secret: no diff shown)",
                 logger.info)
    elif state.config.DIFF:
        old = host.get_fact(FileContents, path=dest) if remote else []
        host.log(f"Will {'modify' if remote else 'create'} {format_text(dest, bold=True)}", logger.info)
        for line in generate_color_diff([line + "\n" for line in old or []], data.decode().splitlines(True)):
            logger.info("  %s", line)
    yield from checked_write_commands(data, dest, check, mode, user, group, in_place)


def checked_write_commands(data: bytes, dest: str, check: str | None, mode: int = 644, user: str = "root",
                           group: str = "root", in_place: bool = False) -> list:
    """The one way the kit replaces a file: upload beside it, check the new file, then rename it over the old.

    A check that fails removes the new file and fails with the checking program's message.
    """
    new = f"{dest}.exitkit-new"
    quoted = shlex.quote(new)
    commands: list = [FileUploadCommand(BytesIO(data), new, remote_temp_filename=host.get_temp_filename(new)),
                      StringCommand(f"chown {user}:{group} {quoted} && chmod {mode} {quoted}")]
    if check:
        commands.append(StringCommand(f"{check.format(path=quoted)} || {{ rc=$?; rm -f {quoted}; exit $rc; }}"))
    if in_place:
        target = shlex.quote(dest)
        commands.append(StringCommand(
            f"{{ [ ! -L {target} ] || rm -f {target}; }} && cat {quoted} > {target} && rm -f {quoted}"))
    else:
        commands.append(StringCommand(f"mv -f {quoted} {shlex.quote(dest)}"))
    return commands


def write_now(file: ConfigFile) -> None:
    """``checked_write_commands`` run at once on the current host, for a callback that writes at run time
    (pyinfra's operations are planned before the run); raises with the checking program's message."""
    data = file.content.encode() if isinstance(file.content, str) else file.content
    for command in checked_write_commands(data, file.path, file.check, mode=int(file.mode)):
        if isinstance(command, FileUploadCommand):
            ok = host.put_file(command.src, command.dest)
            output = None
        else:
            ok, output = host.run_shell_command(command)
        if not ok:
            why = " ".join(output.stderr_lines[-3:]) if output else "the upload failed"
            raise RuntimeError(f"{file.path} was not replaced: {why}")


# ------------------------------------------------------------------ rolling restarts
_STOPPED_AT: dict[str, str] = {}  # rolling restart name -> the relay that did not come back


def ready_command(services: list[str], http_port: int, wait_seconds: int) -> str:
    """Waits until every service is active and the notice page answers 200 on the relay itself.

    On time-out it prints what is still wrong (a unit not active, the page not
    answering), so the operator knows whether tor or the page failed.
    """
    # at most 2 s per try: a page behind a firewall that drops would otherwise hold the connect for minutes
    probe = (f"timeout 2 bash -c \"exec 3<>/dev/tcp/127.0.0.1/{http_port} && "
             "printf 'HEAD / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'\"")
    why = (f"for u in {' '.join(services)}; do s=$(systemctl is-active $u 2>/dev/null); "
           f"[ \"$s\" = active ] || echo \"$u is ${{s:-unknown}}\"; done; "
           f"( {probe} ) 2>/dev/null || echo \"the notice page on 127.0.0.1:{http_port} did not answer 200\"")
    loop = (f"end=$(( $(date +%s) + {wait_seconds} )); "
            f"until systemctl is-active -q {' '.join(services)} && ( {probe} ) 2>/dev/null; do "
            f"[ $(date +%s) -lt $end ] || {{ {why}; exit 1; }}; sleep 0.2; done")
    return "bash -c " + shlex.quote(loop)


def _restart_and_wait(roll: str, services: Callable[[], list[str]], ready: list[str], http_port: int,
                      wait_seconds: int) -> None:
    stopped = _STOPPED_AT.get(roll)
    if stopped:
        raise RuntimeError(f"not restarted: the rolling restart stopped because {stopped} did not come back; "
                           f"{host.name} keeps running its previous configuration until the next run")
    units = " ".join(services())
    restarted, output = host.run_shell_command(StringCommand(f"systemctl restart {units}"))
    answered = False
    if restarted:
        answered, output = host.run_shell_command(StringCommand(ready_command(ready, http_port, wait_seconds)))
    if not (restarted and answered):
        _STOPPED_AT[roll] = host.name
        why = ": " + "; ".join(output.stdout_lines if restarted else output.stderr_lines[-3:])
        raise RuntimeError(f"{host.name} did not come back within {wait_seconds}s after restarting {units}{why}; "
                           "the rolling restart stops here and relays after it keep their previous configuration")


def rolling_restart(name: str, services: Callable[[], list[str]], ready: list[str], http_port: int,
                    wait_seconds: int, batch: int, when):
    """Restart ``services`` (asked at run time) a batch of relays at a time; each batch must answer first.

    pyinfra runs an operation with ``_parallel=N`` in batches of N hosts; the
    callback restarts, then waits until the ``ready`` services are active and the notice
    page answers. A relay that does not come back stops the roll: every later
    relay fails this operation unrestarted (its new configuration waits, and
    the next run restarts it, see the units' "applied" markers).
    """
    from pyinfra.operations import python

    return python.call(name=name, function=_restart_and_wait, roll=name, services=services, ready=ready,
                       http_port=http_port, wait_seconds=wait_seconds, _parallel=batch, _if=when)


# ------------------------------------------------------------------ secrets to the control machine
def _download_secret(state, host, src: str, dest: str) -> None:
    if host.get_fact(File, path=src) is None:
        return  # no key yet (tor has not run): copied on a later run
    buffer = BytesIO()
    host.get_file(src, buffer)
    target = Path(dest)
    if target.exists():
        if target.read_bytes() == buffer.getvalue():
            return
        # a relay whose key changed: keep the old copy, add the new one beside it
        target = target.with_name(f"{target.name}.{hashlib.sha1(buffer.getvalue()).hexdigest()[:8]}")
        if target.exists():
            return
    write_secret(target, buffer.getvalue())


@operation()
def fetch_secret(src: str, dest: str):
    """Copy a relay's secret file (a tor identity key) to the control machine, unless the copy is current.

    Never shown, never overwritten: a copy that differs from the relay's file
    stays, and the relay's file is kept beside it under a name with its hash.
    """
    remote = host.get_fact(Sha1File, path=src)
    local = Path(dest)
    if remote and local.exists() and hashlib.sha1(local.read_bytes()).hexdigest() == remote:
        host.noop(f"{dest} is a current copy")
        return
    yield FunctionCommand(_download_secret, (src, dest), {})


def write_config(file: ConfigFile, name: str):
    """One file of exitkit.configs as an operation: every file takes the one checked-write path (uploaded beside
    the old one, checked by its own program if it has one, renamed over it), shows a diff under ``pyinfra --diff``
    and is a no-op when unchanged; so a run's uploads are exactly the ``<path>.exitkit-new`` files it names."""
    return checked_file(name=name, content=file.content, dest=file.path, check=file.check, mode=int(file.mode),
                        in_place=file.in_place)
