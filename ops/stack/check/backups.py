"""Backups and the restore drill (components/restore_drill.py): the latest recovery point of the instance in the
stack's vault is complete and recent (``ListRecoveryPointsByBackupVault``), and the latest restore test of the
stack's restore testing plan restored the copy and passed its validation (``GetRestoreTestingPlan``,
``ListRestoreJobs``)."""

from __future__ import annotations

import datetime

from ops.stack.check.context import Context
from ops.stack.check.database import instance
from ops.stack.check.result import BACKUPS, NotChecked, fail, not_checked, ok, promise

RECOVERY_POINT_AGE = datetime.timedelta(days=2)  # the plan backs up daily
RESTORE_TEST_AGE = datetime.timedelta(days=8)  # the restore testing plan runs weekly


def _drill(ctx: Context) -> None:
    if not ctx.outputs.get("backupVaultName") and not ctx.setting(lambda s: s.restore_drill.enabled):
        raise NotChecked("restoreDrill is false in the stack file: RDS's own automated backups only (see the "
                         "database group)")


@promise(BACKUPS, "the latest recovery point of the instance is complete and under 2 days old")
def recovery_point(ctx: Context):
    _drill(ctx)
    vault = str(ctx.output("backupVaultName"))
    arn = instance(ctx).get("DBInstanceArn")
    points, token = [], None
    while True:
        page = ctx.call("backup", "list_recovery_points_by_backup_vault", BackupVaultName=vault,
                        **({"ByResourceArn": arn} if arn else {}), **({"NextToken": token} if token else {}))
        points += page.get("RecoveryPoints", [])
        token = page.get("NextToken")
        if not token:
            break
    if not points:
        return fail(f"vault {vault} holds no recovery point of the instance: see `aws backup list-backup-jobs "
                    f"--by-backup-vault-name {vault}` for the plan's failed jobs (the first one runs at the plan's "
                    "next window after the deploy)")
    latest = max(points, key=lambda p: p["CreationDate"])
    if latest.get("Status") not in ("COMPLETED", "AVAILABLE"):
        return fail(f"the latest recovery point ({latest['CreationDate'].date()}) is {latest.get('Status')}: "
                    f"{latest.get('StatusMessage') or 'see its backup job'} (`aws backup list-backup-jobs "
                    f"--by-backup-vault-name {vault}`)")
    if ctx.now() - latest["CreationDate"] > RECOVERY_POINT_AGE:
        return fail(f"the latest recovery point is from {latest['CreationDate'].date()}: the daily backups stopped; "
                    f"see `aws backup list-backup-jobs --by-backup-vault-name {vault}`")
    return ok(f"{latest['CreationDate'].isoformat(timespec='minutes')}, {latest.get('Status')}")


@promise(BACKUPS, "the latest restore test restored the copy and passed its validation")
def restore_test(ctx: Context):
    _drill(ctx)
    name = str(ctx.output("restoreTestingPlanName"))
    plan = ctx.call("backup", "get_restore_testing_plan", RestoreTestingPlanName=name)["RestoreTestingPlan"]
    jobs, token = [], None
    while True:
        page = ctx.call("backup", "list_restore_jobs", ByRestoreTestingPlanArn=plan["RestoreTestingPlanArn"],
                        **({"NextToken": token} if token else {}))
        jobs += page.get("RestoreJobs", [])
        token = page.get("NextToken")
        if not token:
            break
    if not jobs:
        return not_checked(f"no restore test has run yet ({plan.get('ScheduleExpression', 'weekly')}): re-run the "
                           "check after the first one, or start one now (runbooks/restore.md)")
    latest = max(jobs, key=lambda j: j["CreationDate"])
    when = latest["CreationDate"].date().isoformat()
    if latest.get("Status") in ("FAILED", "ABORTED"):
        return fail(f"the restore test of {when} {latest['Status']}: {latest.get('StatusMessage') or 'no message'}: "
                    "check the restore overrides (subnet group, security group, instance class) in "
                    "components/restore_drill.py (runbooks/restore.md)")
    validation = latest.get("ValidationStatus")
    if validation in ("FAILED", "TIMED_OUT"):
        return fail(f"the restore test of {when} restored the copy but its validation {validation}: "
                    f"{latest.get('ValidationStatusMessage') or 'no message'}: read the restore check's log "
                    "(lambda/restore_check, runbooks/restore.md)")
    if latest.get("Status") != "COMPLETED" or validation in (None, "VALIDATING"):
        return not_checked(f"the restore test of {when} is {latest.get('Status')}, validation "
                           f"{validation or 'not reported yet'}: re-run the check when it has finished")
    if ctx.now() - latest["CreationDate"] > RESTORE_TEST_AGE:
        return fail(f"the latest restore test is from {when}: the weekly tests stopped; check the restore testing "
                    f"plan {name}'s schedule and selection (`aws backup get-restore-testing-plan "
                    f"--restore-testing-plan-name {name}`)")
    return ok(f"{when}: COMPLETED, validation SUCCESSFUL")


CHECKS = (recovery_point, restore_test)
