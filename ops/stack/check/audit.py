"""Audit and detection: the trail logs and delivers to its bucket and its log group (``GetTrailStatus``), GuardDuty
is on with RDS Protection (``GetDetector``), and every function of the stack runs under an enforcing code signing
config (``GetFunctionCodeSigningConfig``, ``GetCodeSigningConfig``)."""

from __future__ import annotations

import datetime

from ops.stack.check.context import Context
from ops.stack.check.result import AUDIT, NotChecked, fail, not_checked, ok, promise

RDS_PROTECTION = "RDS_LOGIN_EVENTS"  # components/audit.py
DELIVERY_AGE = datetime.timedelta(hours=24)
FIRST_DELIVERY = datetime.timedelta(hours=1)  # CloudTrail delivers about every 5 minutes once it logs
FUNCTION_OUTPUTS = ("confirmationFunctionName", "migratorFunctionName", "masterRotationFunctionName",
                    "appRotationFunctionName")


def _trail(ctx: Context) -> tuple[str, dict]:
    if not ctx.outputs.get("auditTrailArn"):
        if ctx.setting(lambda s: s.audit.trail):
            return "", {}
        raise NotChecked("auditTrail is false in the stack file: this stack has no trail")
    arn = str(ctx.outputs["auditTrailArn"])
    return arn, ctx.once("trail-status", lambda: ctx.call("cloudtrail", "get_trail_status", Name=arn))


def _stale(ctx: Context, when) -> bool:
    return when is None or ctx.now() - when > DELIVERY_AGE


def _first_delivery_pending(ctx: Context, status: dict, field: str) -> bool:
    """No delivery yet, from a trail that started logging less than an hour ago (a first deploy)."""
    started = status.get("StartLoggingTime")
    return status.get(field) is None and started is not None and ctx.now() - started < FIRST_DELIVERY


@promise(AUDIT, "the trail is logging, delivering to its bucket within 24 h and notifying its topic, without error")
def trail_bucket(ctx: Context):
    arn, status = _trail(ctx)
    if not arn:
        return fail(f"auditTrail is on but stack {ctx.stack} has no auditTrailArn output: run `pulumi up -s "
                    f"{ctx.stack}`")
    if not status.get("IsLogging"):
        return fail(f"the trail is not logging: `aws cloudtrail start-logging --name {arn}`, then `pulumi up -s "
                    f"{ctx.stack}`")
    error = status.get("LatestDeliveryError")
    if error:
        return fail(f"the trail cannot write to {ctx.outputs.get('auditBucketName', 'its bucket')} ({error}): check "
                    "the bucket policy and the audit key's policy for cloudtrail.amazonaws.com (components/audit.py)")
    notification = status.get("LatestNotificationError")
    if notification:
        return fail(f"the trail cannot publish to {ctx.outputs.get('auditTopicArn', 'its topic')} ({notification}): "
                    "check the topic policy and the audit key's statement for CloudTrail's SNS notifications "
                    "(components/audit.py)")
    if _first_delivery_pending(ctx, status, "LatestDeliveryTime"):
        return not_checked("the trail started logging less than an hour ago and has delivered nothing yet: re-run "
                           "the check in 15 minutes")
    if _stale(ctx, status.get("LatestDeliveryTime")):
        return fail("no log file delivered in 24 h: check the trail's bucket and key policies (components/audit.py) "
                    f"and `aws cloudtrail get-trail-status --name {arn}`")
    return ok(f"logging, last delivery {status['LatestDeliveryTime'].isoformat(timespec='minutes')}")


@promise(AUDIT, "the trail delivers to its CloudWatch Logs group (its logs role, under the SourceArn condition)")
def trail_logs(ctx: Context):
    arn, status = _trail(ctx)
    if not arn:
        return fail(f"auditTrail is on but stack {ctx.stack} has no auditTrailArn output: run `pulumi up -s "
                    f"{ctx.stack}`")
    error = status.get("LatestCloudWatchLogsDeliveryError")
    if error:
        return fail(f"CloudTrail cannot write to {ctx.outputs.get('auditLogGroupName', 'its log group')} ({error}): "
                    "CloudTrail could not assume its logs role; check the role's trust policy (aws:SourceArn = the "
                    "trail's ARN) in components/audit.py")
    if _first_delivery_pending(ctx, status, "LatestCloudWatchLogsDeliveryTime"):
        return not_checked("the trail started logging less than an hour ago and has delivered nothing to its log "
                           "group yet: re-run the check in 15 minutes")
    if _stale(ctx, status.get("LatestCloudWatchLogsDeliveryTime")):
        return fail(f"no event delivered to {ctx.outputs.get('auditLogGroupName', 'its log group')} in 24 h: check "
                    "the logs role's trust policy (aws:SourceArn) and permissions in components/audit.py")
    return ok(f"last delivery {status['LatestCloudWatchLogsDeliveryTime'].isoformat(timespec='minutes')}")


@promise(AUDIT, "GuardDuty is enabled with RDS Protection (RDS_LOGIN_EVENTS)")
def guardduty(ctx: Context):
    detector = ctx.outputs.get("guardDutyDetectorId")
    if not detector:
        if ctx.setting(lambda s: s.audit.guard_duty):
            return fail(f"guardDuty is on but stack {ctx.stack} has no guardDutyDetectorId output: run `pulumi up -s "
                        f"{ctx.stack}`")
        raise NotChecked("guardDuty is false in the stack file")
    answer = ctx.call("guardduty", "get_detector", DetectorId=str(detector))
    if answer.get("Status") != "ENABLED":
        return fail(f"detector {detector} is {answer.get('Status')}: `aws guardduty update-detector --detector-id "
                    f"{detector} --enable`, then `pulumi up -s {ctx.stack}`")
    feature = next((f for f in answer.get("Features", []) if f.get("Name") == RDS_PROTECTION), None)
    if feature is None or feature.get("Status") != "ENABLED":
        return fail(f"RDS Protection is {feature.get('Status') if feature else 'absent'} on detector {detector}: "
                    f"run `pulumi up -s {ctx.stack}` (it manages the {RDS_PROTECTION} feature)")
    return ok(f"{detector}: enabled, {RDS_PROTECTION} enabled")


@promise(AUDIT, "every function of the stack runs under an enforcing code signing config")
def code_signing(ctx: Context):
    functions = [str(ctx.outputs[k]) for k in FUNCTION_OUTPUTS if ctx.outputs.get(k)]
    if not functions:
        raise NotChecked(f"stack {ctx.stack} has none of the outputs {', '.join(FUNCTION_OUTPUTS)}")
    from botocore.exceptions import ClientError

    unsigned, lax, missing = [], [], []
    for function in functions:
        try:
            arn = ctx.call("lambda", "get_function_code_signing_config",
                           FunctionName=function).get("CodeSigningConfigArn")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            missing.append(function)
            continue
        if not arn:
            unsigned.append(function)
            continue
        policies = ctx.call("lambda", "get_code_signing_config", CodeSigningConfigArn=arn)["CodeSigningConfig"].get(
            "CodeSigningPolicies", {})
        if policies.get("UntrustedArtifactOnDeployment") != "Enforce":
            lax.append(f"{function} only warns ({policies.get('UntrustedArtifactOnDeployment')})")
    if missing:
        return fail(f"{', '.join(missing)} does not exist: run `pulumi up -s {ctx.stack}` (a function whose signed "
                    "upload Signer could not read is never created)")
    if unsigned or lax:
        shown = "; ".join([f"{f} has no code signing config" for f in unsigned] + lax)
        return fail(f"{shown}: run `pulumi up -s {ctx.stack}` (components/code_signing.py attaches an enforcing one)")
    return ok(f"{len(functions)} functions, Enforce")


CHECKS = (trail_bucket, trail_logs, guardduty, code_signing)
