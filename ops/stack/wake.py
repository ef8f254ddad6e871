"""Start a stack's stopped database and wait until it is available (``cruddur stack wake -s STACK``).

A dev stack with ``dbRunSchedule`` has its instance stopped outside the hours it names (components/db_schedule.py):
then the app and the CLI get a connection error until someone wakes it (runbooks/dev-schedule.md). ``wake`` reads
the instance (the ``dbInstanceId`` output) in the stack's ``region`` output and:

- ``available`` (or ``storage-optimization``, in which RDS says the instance is fully operational): nothing to do;
- ``stopped``: asks RDS to start it (``StartDBInstance``), then waits;
- ``stopping``: waits until it is stopped, then starts it; ``starting`` and the statuses RDS passes through on the
  way to available (``WAIT``): waits;
- anything else (``deleting``, ``failed``, ``storage-full``, ...): one line naming the status and what to do.

Waiting polls ``DescribeDBInstances`` every ``POLL_SECONDS`` until ``available`` or the timeout; the timeout only
stops the waiting (RDS goes on starting the instance), so running the command again resumes it. The caller needs
``rds:DescribeDBInstances`` and ``rds:StartDBInstance`` on the instance. Every failure a user can cause is one
``CruddurError`` line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ops.errors import CruddurError
from ops.stack.aws_errors import refusal
from ops.stack.outputs import require

# Throttling and transient errors are retried by botocore itself (standard mode), as for Secrets Manager.
RETRIES = {"total_max_attempts": 5, "mode": "standard"}
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
POLL_SECONDS = 15.0
DEFAULT_TIMEOUT_MINUTES = 15
ACTIONS = "rds:DescribeDBInstances and rds:StartDBInstance"

READY = ("available", "storage-optimization")
STOPPED = "stopped"
# What RDS shows while it stops or starts an instance, or finishes a change it already began: each ends in
# `stopped` or `available` by itself, so wake waits (RDS User Guide, "Viewing Amazon RDS DB instance status").
WAIT = ("stopping", "starting", "configuring-enhanced-monitoring", "configuring-iam-database-auth",
        "configuring-log-exports", "backing-up", "modifying", "rebooting", "renaming", "resetting-master-credentials",
        "upgrading", "maintenance", "storage-config-upgrade", "creating")
# Statuses that need someone: what to do, by status (prefix match); anything else gets the describe command.
ADVICE = (
    ("deleting", "it is being deleted: `pulumi up -s {stack}` creates a new one (runbooks/restore.md to get the "
                 "data back)"),
    ("storage-full", "raise allocatedStorageGb (or maxAllocatedStorageGb) and run `pulumi up -s {stack}`"),
    ("inaccessible-encryption-credentials", "its KMS key (kmsKeyArn output) is disabled or no longer usable by RDS: "
                                            "enable the key, then start the instance"),
    ("insufficient-capacity", "RDS has no capacity for its instance class in its zone right now: run the command "
                              "again later"),
    ("incompatible-", "RDS cannot start it as configured: see its events (`aws rds describe-events --region {region} "
                      "--source-type db-instance --source-identifier {identifier}`) and runbooks/restore.md"),
    ("failed", "RDS cannot recover it by itself: see its events (`aws rds describe-events --region {region} "
               "--source-type db-instance --source-identifier {identifier}`) and runbooks/restore.md"),
    ("restore-error", "the restore it was made from failed: see runbooks/restore.md"),
)
_NOT_FOUND = ("DBInstanceNotFound", "DBInstanceNotFoundFault")


@dataclass(frozen=True)
class Instance:
    """The stack's database instance, as its outputs name it."""

    stack: str
    identifier: str
    region: str


@dataclass(frozen=True)
class Woken:
    """What ``wake`` found and did: the status it found, whether it asked RDS to start the instance, the status it
    ended on (one of ``READY``) and how long it took, in seconds."""

    found: str
    started: bool
    status: str
    elapsed: float


def instance(outputs: dict[str, Any], stack: str) -> Instance:
    return Instance(stack, str(require(outputs, "dbInstanceId", stack)), str(require(outputs, "region", stack)))


def client(region: str):
    """An RDS client in ``region`` with botocore's own retries and bounded timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(retries=dict(RETRIES), connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    return boto3.session.Session().client("rds", region_name=region, config=config)


def describe_status(rds, db: Instance) -> str:
    """The instance's ``DBInstanceStatus``."""
    with _aws_errors(db, "rds:DescribeDBInstances"):
        (found,) = rds.describe_db_instances(DBInstanceIdentifier=db.identifier)["DBInstances"]
    return str(found["DBInstanceStatus"])


def start(rds, db: Instance) -> None:
    """Ask RDS to start the instance. If it is no longer stopped (the run schedule, or someone else, started it
    meanwhile), RDS refuses with InvalidDBInstanceState: nothing to do, the caller's next poll sees where it is."""
    with _aws_errors(db, "rds:StartDBInstance", tolerate=("InvalidDBInstanceState", "InvalidDBInstanceStateFault")):
        rds.start_db_instance(DBInstanceIdentifier=db.identifier)


def wake(rds, db: Instance, *, timeout: float, interval: float = POLL_SECONDS,
         describe: Callable[[], str] | None = None, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic, on_status: Callable[[str, float], None] | None = None,
         on_start: Callable[[float], None] | None = None) -> Woken:
    """Start ``db`` if it is stopped and wait (at most ``timeout`` seconds) until it is available.

    ``describe`` returns the instance's status (default: ``describe_status``); ``on_status(status, elapsed)`` hears
    the first status and every change, ``on_start(elapsed)`` each start request. A status wake cannot start from is
    raised before it is reported."""
    poll = describe or (lambda: describe_status(rds, db))
    began = clock()
    deadline = began + timeout

    def report(status: str) -> str:
        if status not in READY and status != STOPPED and status not in WAIT:
            raise CruddurError(unexpected(db, status))
        if on_status:
            on_status(status, clock() - began)
        return status

    status = found = report(poll())
    started = False
    while status not in READY:
        if status == STOPPED:
            start(rds, db)
            started = True
            if on_start:
                on_start(clock() - began)
            after = poll()  # at once: RDS shows `starting` right after the request
        else:
            if clock() >= deadline:
                going_on = "RDS goes on starting it; " if started else ""
                raise CruddurError(
                    f"stack {db.stack}'s database {db.identifier} is still {status} after {duration(timeout)} "
                    f"(--timeout): {going_on}run `cruddur stack wake -s {db.stack}` again to keep waiting")
            sleep(max(0.0, min(interval, deadline - clock())))
            after = poll()
        status = report(after) if after != status else status
    return Woken(found=found, started=started, status=status, elapsed=clock() - began)


def unexpected(db: Instance, status: str) -> str:
    """The one line for a status wake cannot start from."""
    advice = next((text for prefix, text in ADVICE if status.startswith(prefix)),
                  "check it with `aws rds describe-db-instances --region {region} --db-instance-identifier "
                  "{identifier}`")
    return (f"stack {db.stack}'s database {db.identifier} is {status}, not stopped: wake starts only a stopped "
            f"instance; {advice.format(stack=db.stack, region=db.region, identifier=db.identifier)}")


def duration(seconds: float) -> str:
    """``6m12s``."""
    whole = int(round(seconds))
    return f"{whole // 60}m{whole % 60:02d}s"


@contextmanager
def _aws_errors(db: Instance, action: str, tolerate: tuple[str, ...] = ()) -> Iterator[None]:
    """Turns a botocore failure of ``action`` on ``db`` into one ``CruddurError`` line naming the fix; an RDS error
    whose code is in ``tolerate`` is swallowed."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise CruddurError(f"no AWS credentials to wake stack {db.stack}'s database {db.identifier}: sign in (e.g. "
                           f"`aws sso login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID) as an operator allowed "
                           f"{ACTIONS}") from None
    except EndpointConnectionError:
        raise CruddurError(f"cannot reach RDS in region {db.region} (stack {db.stack}'s region output): check the "
                           "region and your network or proxy") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in tolerate:
            return
        raise CruddurError(_client_error(db, action, code, exc)) from None
    except BotoCoreError as exc:
        raise CruddurError(f"cannot call {action} on {db.identifier} in {db.region}: {type(exc).__name__}") from None


def _client_error(db: Instance, action: str, code: str, exc) -> str:
    refused = refusal(exc, f"calling {action} on stack {db.stack}'s database {db.identifier}",
                      f"{ACTIONS} on this instance")
    if refused:
        return refused
    if code in _NOT_FOUND:
        return (f"stack {db.stack}'s database {db.identifier} not found in {db.region} (deleted, or not created "
                f"yet): run `pulumi up -s {db.stack}`")
    if code in ("InsufficientDBInstanceCapacity", "InsufficientDBInstanceCapacityFault"):
        return (f"RDS has no capacity to start {db.identifier} in its zone right now: run `cruddur stack wake -s "
                f"{db.stack}` again later ({code})")
    if code.startswith("KMSKeyNotAccessible"):
        return (f"RDS cannot use stack {db.stack}'s data key (kmsKeyArn output) to start {db.identifier}: enable "
                f"the key, then re-run ({code})")
    return f"cannot call {action} on {db.identifier} in {db.region}: {code or type(exc).__name__}"
