"""Whether an address the service is bound to can be reached from other machines.

Apart from the access rules (`access.py`) so that `custid serve` can tell, before it
loads the database layer, whether there is anything to check before serving.
"""

import ipaddress


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere
