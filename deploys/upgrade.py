"""Move relays to the next Debian release (12 to 13), a batch at a time; then converge them as always.

    pyinfra inventory/<fleet>.py deploys/upgrade.py                  # from a checkout of the kit
    pyinfra inventory/<fleet>.py $(exitkit deploy-path --upgrade)    # with the kit installed (pip)
    pyinfra inventory/<fleet>.py deploys/exit.py                     # then: every relay converged on its release
"""

from deploys import lock, release, release_upgrade, summary

summary.track(remember=False)       # one line per relay at the end: moved, skipped (with a note), failed; no history
release.refuse_unsupported()        # a relay of another release fails here, named with it; nothing changed on it
lock.take_lock()                    # one run at a time, as for exit.py; the reboot frees it (/run)
release_upgrade.release_upgrade()   # health check, sources, full upgrade, reboot: a batch at a time, stops at a failure
