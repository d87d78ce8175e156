"""Converge one exit relay. Each line is one concern; see deploys/<concern>.py.

    pyinfra inventory/<fleet>.py deploys/exit.py
"""

from deploys import base, maintenance, notice, policy, summary

summary.track()                     # the fleet summary at the end of the run

base.system()                       # packages, the relay's name
policy.firewall()                   # the fleet's exit policy, enforced by nftables
notice.notice_page()                # notice page, security.txt, exit-policy.txt on a hardened lighttpd
maintenance.log_lifetime()          # journal in memory, purge timer: logs live no longer than promised
maintenance.security_updates()      # unattended-upgrades, Debian security only
maintenance.scheduled_reboot()      # the fleet's staggered reboot timer
