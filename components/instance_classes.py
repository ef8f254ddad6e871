"""What the alarms need to know about an RDS instance class: its memory, whether it is burstable, and the
``max_connections`` RDS PostgreSQL gives it by default. Pure functions, no Pulumi.

``max_connections`` defaults to ``LEAST({DBInstanceClassMemory/9531392}, 5000)`` on RDS PostgreSQL.
``DBInstanceClassMemory`` is the class's memory minus what RDS reserves for itself, so the estimate from the
class's nominal memory is a slight over-estimate (a few percent); the connections alarm fires on a fraction of it.
(A shared ``components/connection_budget.py`` may replace ``max_connections_estimate``: the formula is the same.)
"""

from __future__ import annotations

GIB = 1024 ** 3
MIB = 1024 ** 2
# The formula's divisor and ceiling (RDS PostgreSQL parameter group default for max_connections).
BYTES_PER_CONNECTION = 9531392
MAX_CONNECTIONS_CEILING = 5000

# Memory (GiB) of the classes this project uses or recommends (Graviton t4g/m7g/r7g and their predecessors).
INSTANCE_MEMORY_GIB = {
    "db.t4g.micro": 1, "db.t4g.small": 2, "db.t4g.medium": 4, "db.t4g.large": 8, "db.t4g.xlarge": 16,
    "db.t4g.2xlarge": 32,
    "db.t3.micro": 1, "db.t3.small": 2, "db.t3.medium": 4, "db.t3.large": 8, "db.t3.xlarge": 16,
    "db.t3.2xlarge": 32,
    "db.m7g.large": 8, "db.m7g.xlarge": 16, "db.m7g.2xlarge": 32, "db.m7g.4xlarge": 64, "db.m7g.8xlarge": 128,
    "db.m6g.large": 8, "db.m6g.xlarge": 16, "db.m6g.2xlarge": 32, "db.m6g.4xlarge": 64,
    "db.r7g.large": 16, "db.r7g.xlarge": 32, "db.r7g.2xlarge": 64, "db.r7g.4xlarge": 128,
    "db.r6g.large": 16, "db.r6g.xlarge": 32, "db.r6g.2xlarge": 64, "db.r6g.4xlarge": 128,
}


def memory_bytes(instance_class: str) -> int:
    """The class's memory in bytes; KeyError for a class not in ``INSTANCE_MEMORY_GIB`` (settings reject it)."""
    return INSTANCE_MEMORY_GIB[instance_class] * GIB


def is_burstable(instance_class: str) -> bool:
    """``db.t*`` classes run on CPU credits (CPUCreditBalance exists only for them)."""
    return instance_class.split(".")[1].startswith("t")


def max_connections_estimate(instance_class: str) -> int:
    """RDS PostgreSQL's default ``max_connections`` for the class: LEAST(memory / 9531392, 5000)."""
    return min(memory_bytes(instance_class) // BYTES_PER_CONNECTION, MAX_CONNECTIONS_CEILING)
