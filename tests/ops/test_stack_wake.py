"""`cruddur stack wake -s STACK` starts the stack's stopped instance (RDS in moto, named by the recorded outputs'
dbInstanceId in their region) and waits until it is available.

moto changes an instance's status at once (stop: stopped, start: available). The waiting is shown by a ``describe``
that answers RDS's in-between statuses for a few polls before moto's own answer, and by a fake clock whose
``sleep`` moves time on: the code under test runs unchanged. Statuses moto never takes by itself (deleting,
storage-full, ...) are set on moto's instance, as RDS would report them."""

from __future__ import annotations

import json
import re

import boto3
import pytest

from ops.errors import CruddurError
from ops.stack import wake as waking
from tests.ops.conftest import RECORDED_OUTPUTS, denied_operator
from tests.ops.test_stack_secrets import NO_CREDENTIALS, one_error_line

RECORDED = json.loads(RECORDED_OUTPUTS.read_text())
REGION = RECORDED["region"]
IDENTIFIER = RECORDED["dbInstanceId"]
DB = waking.Instance("dev", IDENTIFIER, REGION)
MOTO_ACCOUNT = "123456789012"


@pytest.fixture
def rds(moto_aws):
    """moto's RDS in the recorded region with the dev stack's instance (available), and the client wake uses."""
    client = waking.client(REGION)
    client.create_db_instance(DBInstanceIdentifier=IDENTIFIER, Engine="postgres", DBInstanceClass="db.t4g.micro",
                              AllocatedStorage=20, MasterUsername="cruddur_admin",
                              MasterUserPassword="moto-only-not-a-secret-1")
    return client


def status_in_moto() -> str:
    client = boto3.client("rds", region_name=REGION)
    return client.describe_db_instances(DBInstanceIdentifier=IDENTIFIER)["DBInstances"][0]["DBInstanceStatus"]


def set_status_in_moto(status: str) -> None:
    """What RDS would report for an instance in a status moto never takes by itself."""
    from moto.rds.models import rds_backends

    rds_backends[MOTO_ACCOUNT][REGION].databases[IDENTIFIER].status = status


def start_calls(client) -> list[dict]:
    """Every StartDBInstance the client sends (recorded from botocore's own event, the call still goes to moto)."""
    calls: list[dict] = []
    client.meta.events.register("provide-client-params.rds.StartDBInstance",
                                lambda params, **kwargs: calls.append(dict(params)))
    return calls


class FakeClock:
    """``clock()`` is the time; ``sleep(s)`` moves it on by ``s`` at once and remembers ``s``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(client, *statuses: str, then: str | None = None):
    """A describe that answers ``statuses`` one poll each (each poll still asks moto), then ``then`` for ever, or
    moto's own answer."""
    queue = list(statuses)

    def describe() -> str:
        actual = waking.describe_status(client, DB)
        if queue:
            return queue.pop(0)
        return then or actual

    return describe


def run(client, clock: FakeClock, *, timeout: float = 900, describe=None):
    events: list[tuple[str, float]] = []
    woken = waking.wake(client, DB, timeout=timeout, describe=describe, sleep=clock.sleep, clock=clock,
                        on_status=lambda status, elapsed: events.append((status, elapsed)),
                        on_start=lambda elapsed: events.append(("start requested", elapsed)))
    return woken, events


# ------------------------------------------------------------------ the library: what it does from each status
def test_a_stopped_instance_is_started_and_is_available(rds):
    rds.stop_db_instance(DBInstanceIdentifier=IDENTIFIER)
    assert status_in_moto() == "stopped"
    calls, clock = start_calls(rds), FakeClock()
    woken, events = run(rds, clock)
    assert woken == waking.Woken(found="stopped", started=True, status="available", elapsed=0.0)
    assert events == [("stopped", 0.0), ("start requested", 0.0), ("available", 0.0)]
    assert calls == [{"DBInstanceIdentifier": IDENTIFIER}]
    assert status_in_moto() == "available" and clock.sleeps == []


def test_an_available_instance_is_left_alone(rds):
    calls, clock = start_calls(rds), FakeClock()
    woken, events = run(rds, clock)
    assert woken == waking.Woken(found="available", started=False, status="available", elapsed=0.0)
    assert events == [("available", 0.0)] and calls == [] and clock.sleeps == []


def test_waits_through_starting_showing_each_status_change_with_its_time(rds):
    rds.stop_db_instance(DBInstanceIdentifier=IDENTIFIER)
    calls, clock = start_calls(rds), FakeClock()
    describe = scripted(rds, "stopped", "starting", "starting", "starting", "configuring-enhanced-monitoring")
    woken, events = run(rds, clock, describe=describe)
    assert events == [("stopped", 0.0), ("start requested", 0.0), ("starting", 0.0),
                      ("configuring-enhanced-monitoring", 45.0), ("available", 60.0)]
    assert clock.sleeps == [15.0, 15.0, 15.0, 15.0]
    assert woken == waking.Woken(found="stopped", started=True, status="available", elapsed=60.0)
    assert len(calls) == 1


def test_a_stopping_instance_is_started_once_it_has_stopped(rds):
    rds.stop_db_instance(DBInstanceIdentifier=IDENTIFIER)  # moto: stopped at once; RDS says stopping for a while
    calls, clock = start_calls(rds), FakeClock()
    woken, events = run(rds, clock, describe=scripted(rds, "stopping", "stopping"))
    assert events == [("stopping", 0.0), ("stopped", 30.0), ("start requested", 30.0), ("available", 30.0)]
    assert woken == waking.Woken(found="stopping", started=True, status="available", elapsed=30.0)
    assert len(calls) == 1 and status_in_moto() == "available"


def test_an_instance_already_starting_is_waited_for_without_a_second_start(rds):
    calls, clock = start_calls(rds), FakeClock()
    woken, events = run(rds, clock, describe=scripted(rds, "starting", "backing-up"))
    assert events == [("starting", 0.0), ("backing-up", 15.0), ("available", 30.0)]
    assert woken == waking.Woken(found="starting", started=False, status="available", elapsed=30.0)
    assert calls == []


def test_an_instance_started_by_someone_else_meanwhile_is_not_an_error(rds):
    """Seen stopped, but started (by the run schedule) before the request: RDS refuses the start with
    InvalidDBInstanceState, and the next poll finds it available."""
    calls, clock = start_calls(rds), FakeClock()
    woken, events = run(rds, clock, describe=scripted(rds, "stopped"))
    assert len(calls) == 1  # sent, and refused by moto: the instance was available
    assert events == [("stopped", 0.0), ("start requested", 0.0), ("available", 0.0)]
    assert woken.status == "available" and woken.started


def test_storage_optimization_counts_as_available(rds):
    set_status_in_moto("storage-optimization")  # RDS: fully operational while it optimizes storage
    woken, events = run(rds, FakeClock())
    assert woken == waking.Woken(found="storage-optimization", started=False, status="storage-optimization",
                                 elapsed=0.0)


def test_timeout_gives_up_waiting_with_one_line(rds):
    clock = FakeClock()
    with pytest.raises(CruddurError) as caught:
        run(rds, clock, timeout=50, describe=scripted(rds, then="starting"))
    assert caught.value.message == (f"stack dev's database {IDENTIFIER} is still starting after 0m50s (--timeout): "
                                    "run `cruddur stack wake -s dev` again to keep waiting")
    assert clock.sleeps == [15.0, 15.0, 15.0, 5.0]  # never past the deadline


def test_timeout_after_a_start_says_rds_goes_on_starting_it(rds):
    rds.stop_db_instance(DBInstanceIdentifier=IDENTIFIER)
    calls, clock = start_calls(rds), FakeClock()
    with pytest.raises(CruddurError) as caught:
        run(rds, clock, timeout=15 * 60, describe=scripted(rds, "stopped", then="starting"))
    assert caught.value.message == (f"stack dev's database {IDENTIFIER} is still starting after 15m00s (--timeout): "
                                    "RDS goes on starting it; run `cruddur stack wake -s dev` again to keep waiting")
    assert sum(clock.sleeps) == 900.0 and len(calls) == 1 and status_in_moto() == "available"


@pytest.mark.parametrize("status,advice", [
    ("deleting", "it is being deleted: `pulumi up -s dev` creates a new one (runbooks/restore.md to get the data "
                 "back)"),
    ("storage-full", "raise allocatedStorageGb (or maxAllocatedStorageGb) and run `pulumi up -s dev`"),
    ("failed", f"RDS cannot recover it by itself: see its events (`aws rds describe-events --region {REGION} "
               f"--source-type db-instance --source-identifier {IDENTIFIER}`) and runbooks/restore.md"),
    ("inaccessible-encryption-credentials", "its KMS key (kmsKeyArn output) is disabled or no longer usable by RDS: "
                                            "enable the key, then start the instance"),
    ("incompatible-parameters", f"RDS cannot start it as configured: see its events (`aws rds describe-events "
                                f"--region {REGION} --source-type db-instance --source-identifier {IDENTIFIER}`) "
                                "and runbooks/restore.md"),
    ("a-status-from-the-future", f"check it with `aws rds describe-db-instances --region {REGION} "
                                 f"--db-instance-identifier {IDENTIFIER}`"),
])
def test_a_status_wake_cannot_start_from_is_one_line_naming_it(rds, status, advice):
    set_status_in_moto(status)
    calls, clock = start_calls(rds), FakeClock()
    with pytest.raises(CruddurError) as caught:
        run(rds, clock)
    assert caught.value.message == (f"stack dev's database {IDENTIFIER} is {status}, not stopped: wake starts only a "
                                    f"stopped instance; {advice}")
    assert calls == [] and clock.sleeps == []


def test_a_start_that_fails_half_way_stops_the_wait_with_its_status(rds):
    rds.stop_db_instance(DBInstanceIdentifier=IDENTIFIER)
    clock = FakeClock()
    events: list[tuple[str, float]] = []
    with pytest.raises(CruddurError, match=rf"^stack dev's database {IDENTIFIER} is incompatible-network, not "
                                           r"stopped: wake starts only a stopped instance; RDS cannot start it"):
        waking.wake(rds, DB, timeout=900, describe=scripted(rds, "stopped", "starting", "incompatible-network"),
                    sleep=clock.sleep, clock=clock, on_status=lambda status, elapsed: events.append((status, elapsed)))
    assert events == [("stopped", 0.0), ("starting", 0.0)] and clock.sleeps == [15.0]


def test_a_missing_instance_says_so(moto_aws):
    with pytest.raises(CruddurError) as caught:
        run(waking.client(REGION), FakeClock())
    assert caught.value.message == (f"stack dev's database {IDENTIFIER} not found in {REGION} (deleted, or not "
                                    "created yet): run `pulumi up -s dev`")


def test_the_instance_comes_from_the_outputs():
    assert waking.instance(RECORDED, "dev") == DB
    with pytest.raises(CruddurError, match=r"^stack dev has no output 'dbInstanceId'; has `pulumi up -s dev` "):
        waking.instance({k: v for k, v in RECORDED.items() if k != "dbInstanceId"}, "dev")


# ------------------------------------------------------------------ the command
TIME = r"\d+m\d\ds"


def test_wake_starts_the_stopped_instance_and_shows_its_progress(cli, fake_pulumi, rds):
    rds.stop_db_instance(DBInstanceIdentifier=IDENTIFIER)
    result = cli("stack", "wake", "-s", "dev")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"stack dev's database {IDENTIFIER} is available after {TIME} \(it was stopped\)\n",
                        result.stdout)
    lines = result.stderr.splitlines()
    assert lines[0] == f"• stack dev: database {IDENTIFIER} in {REGION}"
    assert [re.sub(TIME, "T", line) for line in lines[1:]] == [
        f"T {IDENTIFIER}: stopped", f"T {IDENTIFIER}: start requested", f"T {IDENTIFIER}: available"]
    assert status_in_moto() == "available"


def test_wake_leaves_an_available_instance_alone(cli, fake_pulumi, rds):
    result = cli("stack", "wake", "-s", "dev")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"stack dev's database {IDENTIFIER} is already available: nothing to start\n"
    assert [re.sub(TIME, "T", line) for line in result.stderr.splitlines()] == [
        f"• stack dev: database {IDENTIFIER} in {REGION}", f"T {IDENTIFIER}: available"]


def test_wake_refuses_a_status_it_cannot_start_from(cli, fake_pulumi, rds):
    set_status_in_moto("storage-full")
    line = one_error_line(cli("stack", "wake", "-s", "dev"))
    assert line == (f"error: stack dev's database {IDENTIFIER} is storage-full, not stopped: wake starts only a "
                    "stopped instance; raise allocatedStorageGb (or maxAllocatedStorageGb) and run `pulumi up -s "
                    "dev`\n")


def test_wake_without_aws_credentials(cli, fake_pulumi, rds):
    line = one_error_line(cli("stack", "wake", "-s", "dev", env=NO_CREDENTIALS))
    assert line == (f"error: no AWS credentials to wake stack dev's database {IDENTIFIER}: sign in (e.g. `aws sso "
                    "login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID) as an operator allowed rds:DescribeDBInstances "
                    "and rds:StartDBInstance\n")


def test_wake_access_denied_names_the_actions(cli, fake_pulumi, rds, monkeypatch):
    env = denied_operator(monkeypatch, "no-rds")
    line = one_error_line(cli("stack", "wake", "-s", "dev", env=env))
    assert re.fullmatch(
        rf"error: access denied calling rds:DescribeDBInstances on stack dev's database {IDENTIFIER}: the caller "
        r"needs rds:DescribeDBInstances and rds:StartDBInstance on this instance: grant both to your operator role "
        r"\(docs/operations.md, 'Operator access'\) \(\w+\)\n", line)


def test_wake_needs_the_instance_output(cli, fake_pulumi, rds):
    doc = json.loads((fake_pulumi / "dev.json").read_text())
    del doc["dbInstanceId"]
    (fake_pulumi / "dev.json").write_text(json.dumps(doc))
    line = one_error_line(cli("stack", "wake", "-s", "dev"))
    assert line == "error: stack dev has no output 'dbInstanceId'; has `pulumi up -s dev` completed?\n"


def test_wake_timeout_must_be_a_whole_number_of_minutes_from_one(cli, fake_pulumi, rds):
    result = cli("stack", "wake", "-s", "dev", "--timeout", "0")
    assert result.exit_code == 2 and "Invalid value for '--timeout'" in result.stderr
    assert status_in_moto() == "available"
