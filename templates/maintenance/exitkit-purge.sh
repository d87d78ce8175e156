#!/bin/bash
# Written by exitkit: no log line outlives the promised lifetime.
# Usage: exitkit-purge MAX_GAP_SECONDS DIR...
# Each run deletes what the run before kept (*.exitkit-previous, the journal's
# archived files), then empties every log file under DIR and starts a new
# journal file. The emptied lines are kept one more interval, as
# FILE.exitkit-previous and as an archived journal file, only if the last run
# was at most MAX_GAP_SECONDS ago and the file was written since: then every
# kept line is younger than that gap. Never follows a symbolic link, never
# leaves a directory's file system, touches only regular files, and leaves the
# journal's own folders to journalctl.
set -euo pipefail
max_gap=$1
shift
stamp=/var/lib/exitkit/log-purge.stamp
now=$(date +%s)
last=0
if [ -e "$stamp" ]; then
    last=$(stat -c %Y "$stamp")
fi
keep=no
if [ $((now - last)) -le "$max_gap" ]; then
    keep=yes
fi

# the previous generation goes
find -P "$@" -xdev -path /var/log/journal -prune -o -type f -name '*.exitkit-previous' -print0 | xargs -0r rm -f --
journalctl --quiet --vacuum-time=1s

# every log is emptied; a rotated one (nobody writes it any more) is moved whole
rotated='\.([0-9]+|gz|xz|bz2|zst|old)$'
find -P "$@" -xdev -path /var/log/journal -prune -o -type f ! -empty ! -name '*.exitkit-previous' -print0 |
    while IFS= read -r -d '' log; do
        written=$(stat -c %Y -- "$log") || continue  # gone meanwhile (rotated by logrotate)
        if [ "$keep" = yes ] && [ "$written" -ge "$last" ]; then
            if [[ $log =~ $rotated ]]; then
                mv -f -- "$log" "$log.exitkit-previous"
            else
                cp -p --sparse=always -- "$log" "$log.exitkit-previous"
                truncate -s 0 -- "$log"
            fi
        elif [[ $log =~ $rotated ]]; then
            rm -f -- "$log"
        else
            truncate -s 0 -- "$log"
        fi
    done
journalctl --quiet --rotate
if [ "$keep" = no ]; then
    journalctl --quiet --vacuum-time=1s
fi

mkdir -p "$(dirname "$stamp")"
echo "$last" > "$stamp"
touch -d "@$now" "$stamp"
if [ "$keep" = yes ]; then
    echo "exitkit-purge: logs emptied; their lines since the last purge kept until the next"
else
    echo "exitkit-purge: logs emptied and nothing kept (the last purge was not within $((max_gap / 60)) minutes)"
fi
