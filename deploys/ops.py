"""Operations the units share: a config file that its own program checks first."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.output import format_text
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.operations.util.files import generate_color_diff


@operation()
def checked_file(content: str, dest: str, check: str | None = None, mode: int = 644,
                 user: str = "root", group: str = "root"):
    """Put ``content`` at ``dest`` only after ``check`` accepted it.

    The new file is uploaded beside the old one, ``check`` (a command with
    ``{path}`` for the new file) must exit 0, and only then does a rename replace
    the old file: a broken config never replaces a working one, and the run fails
    with the checking program's own message. Unchanged content is a no-op.
    """
    remote = host.get_fact(File, path=dest)
    want = hashlib.sha1(content.encode()).hexdigest()
    if remote and host.get_fact(Sha1File, path=dest) == want:
        if (remote["mode"], remote["user"], remote["group"]) != (mode, user, group):
            yield StringCommand("chown", f"{user}:{group}", dest)
            yield StringCommand("chmod", str(mode), dest)
        else:
            host.noop(f"{dest} is up to date")
        return
    if state.config.DIFF:
        old = host.get_fact(FileContents, path=dest) if remote else []
        host.log(f"Will {'modify' if remote else 'create'} {format_text(dest, bold=True)}", logger.info)
        for line in generate_color_diff([line + "\n" for line in old or []], content.splitlines(True)):
            logger.info("  %s", line)
    new = f"{dest}.exitkit-new"
    quoted = shlex.quote(new)
    yield FileUploadCommand(StringIO(content), new, remote_temp_filename=host.get_temp_filename(new))
    yield StringCommand(f"chown {user}:{group} {quoted} && chmod {mode} {quoted}")
    if check:
        yield StringCommand(f"{check.format(path=quoted)} || {{ rc=$?; rm -f {quoted}; exit $rc; }}")
    yield StringCommand(f"mv -f {quoted} {shlex.quote(dest)}")
