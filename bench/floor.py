"""The package-only floor of a first converge: apt-get update and one install of the packages a relay gets.

    pyinfra -y inventory/<fleet>.py bench/floor.py

Two operations, nothing else: the work no deploy of these packages can avoid. A
policy-rc.d that refuses every start keeps the daemons (lighttpd, unbound, tor)
from starting, so only apt's and dpkg's own work is measured. For fresh bench
relays only: it leaves them with that policy-rc.d.
"""

from pyinfra import host
from pyinfra.operations import apt, server

from exitkit.packages import relay_packages
from exitkit.settings import RelaySettings

server.shell(name="apt-get update, with every daemon kept from starting",
             commands=["printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d"
                       " && apt-get update -q"])
packages = relay_packages(RelaySettings.from_data(host.data.dict()))
apt.packages(name="Install the relay's packages", packages=list(packages), no_recommends=True)
