"""How much of the internet a set of CIDR ranges opens: ONE rule, shared by the settings (``operatorCidrs``) and the
policy pack (security-group rules, managed prefix lists).

A set of ranges is too wide when its union covers at least 1/256 of the IPv4 or of the IPv6 address space, i.e.
as much as a /8 or more. The union is what counts, not the literal ``/0``: ``0.0.0.0/1`` + ``128.0.0.0/1``,
``::/1`` + ``8000::/1`` or 256 ``/16`` pieces of one ``/8`` are all too wide; overlapping ranges count once.
Strings that are not CIDRs are ignored here (the caller reports them on its own terms).

The policy pack runs in its own virtualenv and imports only its own folder: ``policy/cidrs.py`` is a symbolic link
to this file (one source; tests/policy checks the pack reads the same bytes). Standard library only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from fractions import Fraction

# The limit: a set of ranges covering this share of an address family, or more, is too wide.
MAX_SHARE = Fraction(1, 256)
MAX_SHARE_TEXT = "1/256"

_BITS = {4: 32, 6: 128}


def networks(cidrs: Iterable[object]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The valid CIDRs among ``cidrs`` (host bits allowed), as networks; anything else is skipped."""
    found = []
    for cidr in cidrs:
        if not isinstance(cidr, str):
            continue
        try:
            found.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    return found


def share(cidrs: Iterable[object], version: int) -> Fraction:
    """The share (0..1) of the IPv``version`` address space that the union of ``cidrs`` covers."""
    nets = [n for n in networks(cidrs) if n.version == version]
    covered = sum(n.num_addresses for n in ipaddress.collapse_addresses(nets))
    return Fraction(covered, 2 ** _BITS[version])


def too_wide(cidrs: Iterable[object]) -> list[tuple[int, Fraction]]:
    """(IP version, share) for each address family whose share is at least ``MAX_SHARE``."""
    cidrs = list(cidrs)
    return [(v, s) for v in (4, 6) if (s := share(cidrs, v)) >= MAX_SHARE]


def covers_too_much(cidrs: Iterable[object]) -> bool:
    """Whether the union of ``cidrs`` covers at least 1/256 of the IPv4 or of the IPv6 address space."""
    return bool(too_wide(cidrs))


def percent(value: Fraction) -> str:
    """``Fraction(1, 256)`` -> ``0.39%``, ``Fraction(1, 2)`` -> ``50%``."""
    return f"{float(value) * 100:.2f}".rstrip("0").rstrip(".") + "%"
