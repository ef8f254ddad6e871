"""How many connections the post-confirmation Lambda may hold: a pure function of the RDS instance class.

Every Lambda container keeps one connection, so the function's reserved concurrency IS its peak connection count.
A sign-up burst must not take the connections the app and the operators need, so the confirmation function gets a
bounded share of what the instance allows::

    from components.connection_budget import connection_budget
    budget = connection_budget(settings.database.instance_class)
    FunctionArgs(..., reserved_concurrency=budget.confirmation)  # components/function.py

max_connections: RDS's default is ``LEAST(DBInstanceClassMemory/9531392, 5000)``. ``DBInstanceClassMemory`` is the
class's memory less what RDS keeps for the OS and its agents, which AWS does not publish; the estimate takes 90 % of
the nominal memory less 200 MiB (``max_connections``; db.t4g.micro -> 79), and the nominal memory gives the upper
bound (``max_connections_upper``; db.t4g.micro -> 112). Planning with the lower figure is the safe side. A parameter
group that sets ``max_connections`` explicitly is passed as ``max_connections=``.

The split, in this order:

1. ``superuser_reserved``: 3, PostgreSQL's ``superuser_reserved_connections`` (RDS's own rdsadmin; the master user
   is not a superuser on RDS and cannot use them);
2. ``operators``: 5 by default, for the master user: migrations, ``cruddur db ...``, ``users sync``, a psql session;
3. of the rest, ``confirmation_share`` (25 %, at least 1, at most ``confirmation_cap`` = 100) goes to the
   confirmation function: its reserved concurrency (the ``bench/`` burst shows one container records hundreds of
   users a second, so 100 is far more than sign-up bursts need, and each reserved unit is taken from the account's
   unreserved Lambda concurrency);
4. ``app_pool``: everything else, the most connections the app's pools may hold together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

RDS_BYTES_PER_CONNECTION = 9_531_392  # from RDS's default max_connections formula
RDS_MAX_CONNECTIONS_CAP = 5000
GIB = 1024 ** 3
MIB = 1024 ** 2
OS_SHARE = 0.10  # DBInstanceClassMemory estimate: nominal * (1 - OS_SHARE) - OS_FIXED_BYTES
OS_FIXED_BYTES = 200 * MIB
SUPERUSER_RESERVED = 3
DEFAULT_OPERATORS = 5
DEFAULT_CONFIRMATION_SHARE = 0.25
DEFAULT_CONFIRMATION_CAP = 100

# Burstable classes: memory by size. Other families: memory per vCPU (large = 2 vCPU, xlarge = 4, Nxlarge = 4N).
_T_MEMORY_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_GIB_PER_VCPU = {"m": 4, "r": 8, "x2": 16}
_CLASS = re.compile(r"^db\.(?P<family>t|m|r|x2)(?P<generation>\d?)(?P<options>[a-z-]*)\.(?P<size>[a-z0-9]+)$")


@dataclass(frozen=True)
class ConnectionBudget:
    instance_class: str
    memory_gib: float | None  # None for a class this module does not know (max_connections given)
    max_connections: int  # the estimate every share below is taken from
    max_connections_upper: int  # with the nominal memory: the real default lies between the two
    superuser_reserved: int
    operators: int
    confirmation: int  # the confirmation function's reserved concurrency (= its peak connections)
    app_pool: int

    def rows(self) -> list[tuple[str, int]]:
        return [("superuser reserved", self.superuser_reserved), ("operators", self.operators),
                ("confirmation function", self.confirmation), ("app pool", self.app_pool)]


def instance_memory_gib(instance_class: str) -> float:
    """The nominal memory of an RDS instance class (db.t*, db.m*, db.r*, db.x2*); ValueError names an unknown one."""
    match = _CLASS.match(instance_class)
    size = match and match["size"]
    if match and match["family"] == "t" and size in _T_MEMORY_GIB:
        return float(_T_MEMORY_GIB[size])
    if match and match["family"] != "t":
        vcpus = 2 if size == "large" else 4 if size == "xlarge" else None
        multiple = re.fullmatch(r"(\d+)xlarge", size or "")
        if multiple:
            vcpus = 4 * int(multiple[1])
        if vcpus:
            return float(vcpus * _GIB_PER_VCPU[match["family"]])
    raise ValueError(f"cannot size the connection budget of instance class {instance_class!r}: known classes are "
                     "db.t*.micro..2xlarge and db.m*/db.r*/db.x2*.large..Nxlarge; pass max_connections= "
                     "(the parameter group's value) for others")


def estimate_max_connections(instance_class: str) -> tuple[int, int]:
    """(conservative estimate, upper bound) of RDS's default max_connections for the class."""
    nominal = instance_memory_gib(instance_class) * GIB
    usable = nominal * (1 - OS_SHARE) - OS_FIXED_BYTES
    return (min(RDS_MAX_CONNECTIONS_CAP, math.floor(usable / RDS_BYTES_PER_CONNECTION)),
            min(RDS_MAX_CONNECTIONS_CAP, math.floor(nominal / RDS_BYTES_PER_CONNECTION)))


def connection_budget(instance_class: str, *, max_connections: int | None = None,
                      operators: int = DEFAULT_OPERATORS, confirmation_share: float = DEFAULT_CONFIRMATION_SHARE,
                      confirmation_cap: int = DEFAULT_CONFIRMATION_CAP) -> ConnectionBudget:
    """Split the instance's connections between RDS, the operators, the confirmation function and the app."""
    if not 0 < confirmation_share < 1:
        raise ValueError(f"confirmation_share must be between 0 and 1 (exclusive), got {confirmation_share}")
    if operators < 0 or confirmation_cap < 1:
        raise ValueError(f"operators must be >= 0 and confirmation_cap >= 1, got {operators} and {confirmation_cap}")
    if max_connections is None:
        memory: float | None = instance_memory_gib(instance_class)
        estimate, upper = estimate_max_connections(instance_class)
    else:  # the parameter group's value: no estimate needed (the class may be one this module does not know)
        try:
            memory = instance_memory_gib(instance_class)
        except ValueError:
            memory = None
        estimate = upper = max_connections
    rest = estimate - SUPERUSER_RESERVED - operators
    if rest < 2:
        raise ValueError(f"{instance_class} allows about {estimate} connections: too few to leave {operators} to the "
                         f"operators and some to both the app and the confirmation function")
    confirmation = max(1, min(confirmation_cap, math.floor(rest * confirmation_share)))
    return ConnectionBudget(instance_class=instance_class, memory_gib=memory, max_connections=estimate,
                            max_connections_upper=upper, superuser_reserved=SUPERUSER_RESERVED, operators=operators,
                            confirmation=confirmation, app_pool=rest - confirmation)


def proxy_max_connections_percent(budget: ConnectionBudget) -> int:
    """The share of ``max_connections`` an RDS Proxy in front of the instance may open (its target group's
    ``max_connections_percent``): everything but what the budget keeps for RDS and the operators, who connect to the
    instance directly. RDS applies the percentage to the real ``max_connections``, which is at least the estimate,
    so taking it of the estimate (rounded down) leaves them at least their share. The app's pools and the
    confirmation function then share the proxy's connections, which it multiplexes."""
    through_proxy = budget.confirmation + budget.app_pool
    return max(1, math.floor(100 * through_proxy / budget.max_connections))
