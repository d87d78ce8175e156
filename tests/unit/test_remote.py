"""Reading many files and units of a relay in one command, and converging units in one.

The files command runs here for real (a shell, GNU stat and sha1sum, as on a relay);
the unit decisions are pure and checked over every combination hypothesis finds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from exitkit.remote import (
    Folder,
    RemoteFile,
    RemoteFolder,
    UnitStatus,
    WantedUnit,
    converge_units,
    files_command,
    folder_commands,
    parse_files,
    parse_units,
    units_command,
)


def test_files_command_reads_content_mode_and_owner_of_each_regular_file(tmp_path):
    conf = tmp_path / "a b.conf"  # a space in the path stays in the path
    conf.write_text("server.port = 80\n")
    conf.chmod(0o640)
    (tmp_path / "link").symlink_to(conf)
    (tmp_path / "folder").mkdir()
    paths = [str(conf), str(tmp_path / "missing"), str(tmp_path / "link"), str(tmp_path / "folder")]
    ran = subprocess.run(["sh", "-c", files_command(paths)], capture_output=True, text=True, check=True)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert os.getuid() == conf.stat().st_uid
    assert parse_files(ran.stdout.splitlines()) == {
        str(conf): RemoteFile(hashlib.sha1(b"server.port = 80\n").hexdigest(), 640, user, group),
        str(tmp_path / "missing"): None,
        str(tmp_path / "link"): None,  # a symlink is replaced by a file of the kit's, as pyinfra's File fact reads it
        str(tmp_path / "folder"): RemoteFolder(int(oct((tmp_path / "folder").stat().st_mode & 0o7777)[2:]), user,
                                               group),
    }


def test_files_command_reads_folders_too(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir()
    folder.chmod(0o2700)
    (tmp_path / "folder-link").symlink_to(folder)
    ran = subprocess.run(["sh", "-c", files_command([str(folder), str(tmp_path / "folder-link")])],
                         capture_output=True, text=True, check=True)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert parse_files(ran.stdout.splitlines()) == {str(folder): RemoteFolder(2700, user, group),
                                                    str(tmp_path / "folder-link"): None}


def test_a_missing_folder_is_made_with_its_owner_and_mode():
    assert folder_commands(Folder("/var/lib/tor/keys", 2700, "debian-tor", "debian-tor"), None) == [
        "mkdir -p /var/lib/tor/keys", "chown debian-tor:debian-tor /var/lib/tor/keys",
        "chmod 2700 /var/lib/tor/keys"]
    assert folder_commands(Folder("/etc/systemd/journald.conf.d"), None) == ["mkdir -p /etc/systemd/journald.conf.d"]


def test_a_folder_gets_only_what_differs_and_nothing_when_right():
    there = RemoteFolder(755, "root", "root")
    assert folder_commands(Folder("/etc/exitkit", 755), there) == []
    assert folder_commands(Folder("/etc/dhcp/dhclient-enter-hooks.d"), RemoteFolder(700, "root", "adm")) == []
    assert folder_commands(Folder("/var/lib/exitkit/acme", 700), there) == ["chmod 700 /var/lib/exitkit/acme"]
    assert folder_commands(Folder("/srv/x", group="www-data"), there) == ["chown :www-data /srv/x"]


@given(st.sampled_from([None, 700, 755, 2700]), st.sampled_from([None, "root", "debian-tor"]),
       st.sampled_from([None, "root", "debian-tor"]),
       st.one_of(st.none(), st.builds(RemoteFolder, st.sampled_from([700, 755, 2700]),
                                      st.sampled_from(["root", "debian-tor"]), st.sampled_from(["root", "adm"]))))
def test_a_folder_made_as_its_commands_say_needs_nothing_more(mode, user, group, now):
    wanted = Folder("/srv/f", mode, user, group)
    commands = folder_commands(wanted, now)
    base = now or RemoteFolder(755, "root", "root")
    after = RemoteFolder(base.mode if mode is None else mode, user or base.user, group or base.group)
    assert folder_commands(wanted, after) == []
    assert bool(commands) == (now is None or after != now)


def test_files_command_refuses_a_path_it_could_not_read_back():
    for bad in ("relative/path", "/etc/two\nlines"):
        try:
            files_command([bad])
        except ValueError as error:
            assert repr(bad) in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_a_line_that_does_not_read_as_a_file_reads_as_no_file():
    """Written again: the safe side."""
    assert parse_files(["file 644:root:root short /etc/a", "none /etc/b", "garbage"]) == {"/etc/a": None,
                                                                                          "/etc/b": None}


SHOW = ["LoadState=masked", "ActiveState=inactive", "UnitFileState=masked", "",
        "LoadState=loaded", "ActiveState=active", "UnitFileState=enabled", "",
        "LoadState=not-found", "ActiveState=inactive", "UnitFileState="]


def test_units_are_read_in_the_order_asked():
    names = ["unbound.service", "lighttpd.service", "exitkit-purge.timer"]
    assert units_command(names).startswith("systemctl show --property LoadState,ActiveState,UnitFileState -- "
                                           "unbound.service lighttpd.service exitkit-purge.timer")
    assert parse_units(names, SHOW) == {"unbound.service": UnitStatus(masked=True),
                                        "lighttpd.service": UnitStatus(active=True, enabled=True),
                                        "exitkit-purge.timer": UnitStatus()}


def test_units_without_a_full_answer_read_as_stopped_so_they_are_started():
    assert parse_units(["a.service", "b.service"], SHOW[:4]) == {"a.service": UnitStatus(),
                                                                 "b.service": UnitStatus()}


def test_a_masked_unit_is_unmasked_enabled_reloaded_once_and_started_once():
    """unbound's first converge: never started with Debian's configuration, never started and then restarted."""
    commands, after = converge_units([WantedUnit("unbound.service", restart=True)],
                                     {"unbound.service": UnitStatus(masked=True)})
    assert commands == ["systemctl unmask --no-reload unbound.service",
                        "systemctl enable --no-reload unbound.service",
                        "systemctl daemon-reload", "systemctl start unbound.service"]
    assert after["unbound.service"] == UnitStatus(active=True, enabled=True)


def test_a_running_unit_restarts_or_reloads_only_when_asked():
    running = {"lighttpd.service": UnitStatus(active=True, enabled=True)}
    assert converge_units([WantedUnit("lighttpd.service")], running) == ([], running)
    assert converge_units([WantedUnit("lighttpd.service", reload=True)], running)[0] == [
        "systemctl reload lighttpd.service"]
    assert converge_units([WantedUnit("lighttpd.service", restart=True, reload=True)], running)[0] == [
        "systemctl restart lighttpd.service"]


def test_a_changed_unit_file_alone_reloads_systemd():
    running = {"exitkit-reboot.timer": UnitStatus(active=True, enabled=True)}
    assert converge_units([WantedUnit("exitkit-reboot.timer")], running, daemon_reload=True)[0] == [
        "systemctl daemon-reload"]


def test_a_unit_wanted_off_is_stopped_and_disabled():
    commands, _ = converge_units([WantedUnit("systemd-resolved.service", running=False, enabled=False)],
                                 {"systemd-resolved.service": UnitStatus(active=True, enabled=True)})
    assert commands == ["systemctl disable --no-reload systemd-resolved.service", "systemctl daemon-reload",
                        "systemctl stop systemd-resolved.service"]


statuses = st.builds(UnitStatus, masked=st.booleans(), active=st.booleans(), enabled=st.booleans())
wanted_units = st.builds(WantedUnit, name=st.sampled_from(["a.service", "b.timer", "c.service"]),
                         running=st.sampled_from([True, False, None]), enabled=st.sampled_from([True, False, None]),
                         restart=st.booleans(), reload=st.booleans())


@given(st.lists(wanted_units, max_size=3, unique_by=lambda u: u.name),
       st.dictionaries(st.sampled_from(["a.service", "b.timer", "c.service"]), statuses), st.booleans())
def test_converging_units_reaches_what_is_wanted_and_a_second_pass_does_nothing(wanted, now, daemon_reload):
    commands, after = converge_units(wanted, now, daemon_reload)
    for unit in wanted:
        status = after[unit.name]
        assert unit.running is None or status.active == unit.running
        assert unit.enabled is None or status.enabled == unit.enabled
        assert not status.masked or not (unit.running or unit.enabled)
    # systemd reads changed unit files once, after every unit-file change and before anything starts
    reloads = [i for i, c in enumerate(commands) if c == "systemctl daemon-reload"]
    assert len(reloads) <= 1
    files = [i for i, c in enumerate(commands) if c.split()[1] in ("unmask", "enable", "disable")]
    runs = [i for i, c in enumerate(commands) if c.split()[1] in ("start", "stop", "restart", "reload")]
    assert bool(reloads) == bool(files or daemon_reload)
    assert all(f < r for f in files for r in reloads) and all(r < s for r in reloads for s in runs)
    assert len(runs) <= len(wanted)
    settled = [WantedUnit(u.name, u.running, u.enabled) for u in wanted]
    assert converge_units(settled, after) == ([], after)
