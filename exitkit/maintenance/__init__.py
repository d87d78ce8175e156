"""Nightly maintenance: the fleet's reboot schedule (schedule), the log purge and its guard (purge),
and the files a relay gets for both and for security updates (files)."""
