"""Converge one exit relay. Each line is one concern; see deploys/<concern>.py.

    pyinfra inventory/<fleet>.py deploys/exit.py
"""

from deploys import base

base.system()           # packages, the relay's name
