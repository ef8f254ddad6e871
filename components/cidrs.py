"""How much of the internet a set of CIDR ranges opens: ONE rule, shared by the settings (``operatorCidrs``) and the
policy pack (security-group rules, managed prefix lists).

A set of ranges is too wide when its union covers at least 1/256 of an address space:
- IPv4: of the whole space, i.e. as much as a /8 or more;
- IPv6: of the whole space, or of the *allocated unicast space* (what IANA has handed to the regional registries,
  ``ALLOCATED_IPV6``: the addresses the internet actually uses, about 1/512 of the whole space). The second measure
  is the one that matters: the five registries' ``/12`` blocks listed one by one cover only 0.12% of the whole IPv6
  space, yet they are the whole IPv6 internet; against the allocated space, one of them is already ~20%.
The union is what counts, not the literal ``/0``: ``0.0.0.0/1`` + ``128.0.0.0/1``, ``::/1`` + ``8000::/1``, 256
``/16`` pieces of one ``/8`` or ``2400::/12`` + ``2600::/12`` + ... are all too wide; overlapping ranges count once.
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

# IANA's "IPv6 Global Unicast Address Assignments" registry, the records whose status is ALLOCATED (to the five
# regional registries, 6to4 and IANA's own special-purpose /23). Source: iana.org/assignments/
# ipv6-unicast-address-assignments, as updated 2019-11-06 (the copy shipped in netaddr 1.3.0), read 2026-12-06.
# A new allocation makes the allocated space larger and this measure slightly more lenient, never blind: the whole-
# space measure still applies.
ALLOCATED_IPV6 = tuple(ipaddress.IPv6Network(n) for n in (
    "2001::/23", "2001:200::/23", "2001:400::/23", "2001:600::/23", "2001:800::/22", "2001:c00::/23",
    "2001:e00::/23", "2001:1200::/23", "2001:1400::/22", "2001:1800::/23", "2001:1a00::/23", "2001:1c00::/22",
    "2001:2000::/19", "2001:4000::/23", "2001:4200::/23", "2001:4400::/23", "2001:4600::/23", "2001:4800::/23",
    "2001:4a00::/23", "2001:4c00::/23", "2001:5000::/20", "2001:8000::/19", "2001:a000::/20", "2001:b000::/20",
    "2002::/16", "2003::/18", "2400::/12", "2600::/12", "2610::/23", "2620::/23", "2630::/12", "2800::/12",
    "2a00::/12", "2a10::/12", "2c00::/12",
))
_ALLOCATED_SIZE = sum(n.num_addresses for n in ALLOCATED_IPV6)

# What each measure is a share of, for messages.
SPACE = {4: "IPv4 address space", 6: "IPv6 address space", "6-allocated": "allocated IPv6 unicast space"}


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


def allocated_share(cidrs: Iterable[object]) -> Fraction:
    """The share (0..1) of the allocated IPv6 unicast space (``ALLOCATED_IPV6``) that the union of ``cidrs`` covers."""
    union = list(ipaddress.collapse_addresses(n for n in networks(cidrs) if n.version == 6))
    covered = 0
    for block in ALLOCATED_IPV6:
        for net in union:  # two CIDRs are nested or disjoint: the overlap is the smaller one, or nothing
            if net.overlaps(block):
                covered += min(net.num_addresses, block.num_addresses)
    return Fraction(covered, _ALLOCATED_SIZE)


def too_wide(cidrs: Iterable[object]) -> list[tuple[int, Fraction, str]]:
    """(IP version, share, what it is a share of) for each address family whose union covers at least ``MAX_SHARE``
    of its space: for IPv6 the larger of the whole-space and the allocated-unicast measures."""
    cidrs = list(cidrs)
    found = []
    if (v4 := share(cidrs, 4)) >= MAX_SHARE:
        found.append((4, v4, SPACE[4]))
    whole, allocated = share(cidrs, 6), allocated_share(cidrs)
    if max(whole, allocated) >= MAX_SHARE:
        found.append((6, whole, SPACE[6]) if whole >= allocated else (6, allocated, SPACE["6-allocated"]))
    return found


def covers_too_much(cidrs: Iterable[object]) -> bool:
    """Whether the union of ``cidrs`` covers at least 1/256 of the IPv4 space, or of the whole or the allocated
    IPv6 space."""
    return bool(too_wide(cidrs))


def percent(value: Fraction) -> str:
    """``Fraction(1, 256)`` -> ``0.39%``, ``Fraction(1, 2)`` -> ``50%``."""
    return f"{float(value) * 100:.2f}".rstrip("0").rstrip(".") + "%"
