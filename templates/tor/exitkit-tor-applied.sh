#!/bin/sh
# Run by systemd after tor@<instance> started (ExecStartPost) or was sent its
# reload signal (ExecReload, after the HUP): notes which torrc the running tor
# read, so a deploy can tell a relay that still runs an older configuration (a
# rolling restart that stopped, a relay that was down) and apply it on the next
# run. Written by exitkit.
set -eu
instance=$1
if [ "$instance" = default ]; then torrc=/etc/tor/torrc; else torrc=/etc/tor/instances/$instance/torrc; fi
mkdir -p /run/exitkit
sha1sum < "$torrc" | cut -d' ' -f1 > "/run/exitkit/tor@$instance.applied"
