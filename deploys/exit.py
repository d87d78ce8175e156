"""Converge one exit relay. Each line is one concern; see deploys/<concern>.py.

    pyinfra inventory/<fleet>.py deploys/exit.py                 # from a checkout of the kit
    pyinfra inventory/<fleet>.py $(exitkit deploy-path)          # with the kit installed (pip)
"""

from deploys import base, https, lock, maintenance, notice, policy, release, resolver, reverse_dns, summary, tor

summary.track()                     # one line per relay at the end of the run: changes, skips, notes
release.refuse_unsupported()        # a relay of another release fails here, named with it; nothing changed on it
lock.take_lock()                    # one run at a time: a relay another live run holds is left alone, named
base.system()                       # packages, the relay's name
reverse_dns.reverse_dns_notes()     # what to ask the provider for (PTR) and publish (A/AAAA): notes, never failures
resolver.resolver()                 # unbound: the exit's own validating resolver, resolv.conf pointing at it
policy.firewall()                   # the fleet's exit policy, enforced by nftables
tor.tor_relay()                     # tor exits: checked torrc per instance, families, rolling restarts
maintenance.log_lifetime()          # journal in memory, purge timer: logs live no longer than promised
maintenance.security_updates()      # unattended-upgrades, Debian security only
maintenance.scheduled_reboot()      # the fleet's staggered reboot timer
notice.notice_page()                # last: the page promises only what the settings above already do
https.https_certificate()           # the same over HTTPS: ACME certificate, renewal timer; never worse than HTTP
