#!/bin/sh
# Written by exitkit: reboot for the fleet's schedule, unless it is not safe now.
# Usage: exitkit-reboot nightly|when-required
set -u
mode=${1:-nightly}
if [ "$mode" = when-required ] && [ ! -e /run/reboot-required ]; then
    echo "exitkit-reboot: no reboot required"
    exit 0
fi
# apt and dpkg hold POSIX locks on these files while they work
for lock in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock; do
    [ -e "$lock" ] || continue
    inode=$(stat -c %i "$lock")
    if grep -Eq "^[0-9]+: .*:$inode " /proc/locks; then
        echo "exitkit-reboot: not rebooting: $lock is held (apt or dpkg is at work); the next scheduled time will try again"
        exit 0
    fi
done
# a deploy (pyinfra, or any other tool) works through non-interactive root SSH sessions
if pgrep -f '^sshd: [^ ]+@notty' >/dev/null; then
    echo "exitkit-reboot: not rebooting: a deploy is connected over SSH; the next scheduled time will try again"
    exit 0
fi
echo "exitkit-reboot: rebooting as scheduled ($mode)"
exec systemctl reboot
