#!/bin/sh
# Run by systemd before tor@<instance> starts (ExecStartPre, before tor reads
# its torrc) and after it was sent its reload signal (ExecReload, after the
# HUP): notes which torrc the tor runs, so a deploy can tell a relay that still
# runs an older configuration (a rolling restart that stopped, a relay that was
# down, a tor that was starting while the torrc changed) and apply it. Noted
# before the start, the mark is never newer than what tor read: at worst the
# next run reloads once more. Written by exitkit.
set -eu
instance=$1
if [ "$instance" = default ]; then torrc=/etc/tor/torrc; else torrc=/etc/tor/instances/$instance/torrc; fi
mkdir -p /run/exitkit
sha1sum < "$torrc" | cut -d' ' -f1 > "/run/exitkit/tor@$instance.applied"
