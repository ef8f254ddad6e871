"""Sign-up: the user pool's post-confirmation trigger is this stack's function (``DescribeUserPool``), and the
function's errors and throttles of the last day are zero (CloudWatch ``AWS/Lambda`` metrics)."""

from __future__ import annotations

import datetime

from ops.stack.check.context import Context
from ops.stack.check.result import SIGN_UP, fail, ok, promise

WINDOW = datetime.timedelta(hours=24)


def function_name_of(arn: str) -> str:
    """The function name in a Lambda ARN (``...:function:NAME`` or ``...:function:NAME:QUALIFIER``)."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else arn


@promise(SIGN_UP, "the user pool's post-confirmation trigger is this stack's function")
def trigger(ctx: Context):
    pool, function = str(ctx.output("userPoolId")), str(ctx.output("confirmationFunctionName"))
    config = ctx.call("cognito-idp", "describe_user_pool", UserPoolId=pool)["UserPool"].get("LambdaConfig") or {}
    arn = config.get("PostConfirmation")
    if not arn:
        return fail(f"user pool {pool} has no post-confirmation trigger, so confirmed users never reach the "
                    f"database: run `pulumi up -s {ctx.stack}`, then `cruddur users sync -s {ctx.stack}` "
                    "(runbooks/repair-users.md)")
    if function_name_of(arn) != function:
        return fail(f"user pool {pool} triggers {arn}, not {function}: run `pulumi up -s {ctx.stack}`, then "
                    f"`cruddur users sync -s {ctx.stack}` (runbooks/repair-users.md)")
    return ok(f"{pool} -> {function}")


def metric_sum(ctx: Context, namespace: str, metric: str, dimensions: dict[str, str]) -> float:
    end = ctx.now()
    answer = ctx.call("cloudwatch", "get_metric_statistics", Namespace=namespace, MetricName=metric,
                      Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
                      StartTime=end - WINDOW, EndTime=end, Period=int(WINDOW.total_seconds()), Statistics=["Sum"])
    return sum(point.get("Sum", 0.0) for point in answer.get("Datapoints", []))


@promise(SIGN_UP, "the sign-up function had no errors and no throttles in the last 24 hours")
def errors_and_throttles(ctx: Context):
    function = str(ctx.output("confirmationFunctionName"))
    counts = {metric: int(metric_sum(ctx, "AWS/Lambda", metric, {"FunctionName": function}))
              for metric in ("Errors", "Throttles")}
    if counts["Errors"] or counts["Throttles"]:
        return fail(f"{counts['Errors']} errors, {counts['Throttles']} throttles in 24 h: read /aws/lambda/{function} "
                    f"(docs/functions.md), then `cruddur users sync -s {ctx.stack}` for the users it missed "
                    "(runbooks/repair-users.md)")
    return ok("0 errors, 0 throttles in 24 h")


CHECKS = (trigger, errors_and_throttles)
