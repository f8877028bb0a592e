"""Test PKI: the same small CA that ``tapin central dev-cert`` makes."""

from central.devcert import DevPKI as TestPKI
from central.devcert import make_pki

__all__ = ["TestPKI", "make_pki"]
