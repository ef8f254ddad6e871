"""A stack's outputs from ``pulumi stack output --json --show-secrets --stack STACK``.

``STACK_OUTPUTS`` lists every output the Pulumi program (``__main__.py``) exports; a test checks it against the
program's ``pulumi.export`` calls and against what the dev and prod stacks export. ``CONDITIONAL_OUTPUTS`` only
exist when the stack enables their part (audit, GuardDuty RDS protection, organization guardrails, alarms, the
dashboard, the restore drill, a run schedule). The CLI reads
masterSecretArn (``cruddur db -s``) and appSecretArn (``cruddur stack env``), whose CURRENT values it fetches from
Secrets Manager (``ops.stack.secrets``), dbHost/dbPort/dbName (fallbacks for fields a secret lacks), region,
dbInstanceId (``cruddur stack wake``, ``ops.stack.wake``), operatorEndpointId, userPoolId and userPoolClientId;
``cruddur stack check`` (``ops.stack.check``) reads the ids of every resource whose promise it checks. The
masterConnectionUrl and appConnectionUrl outputs hold the deploy-time passwords, stale after the first rotation: the
CLI never uses them for a password (it reads only the master's user name from masterConnectionUrl, to refuse an app
secret that logs in as the master).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

from ops.errors import CruddurError
from ops.paths import PROJECT_ROOT
from ops.urls import redact

STACK_OUTPUTS = (
    "region", "masterConnectionUrl", "dbHost", "dbPort", "dbName", "dbInstanceId", "dbResourceId", "masterSecretArn",
    "kmsKeyArn", "vpcId", "privateSubnetIds", "dbSecurityGroupId", "operatorSecurityGroupId", "operatorEndpointId",
    "operatorPolicyArn", "auditTrailArn", "auditBucketName", "auditLogGroupName", "auditKmsKeyArn",
    "auditTopicArn", "guardDutyDetectorId", "guardrailPolicyIds", "userPoolId", "userPoolArn", "userPoolClientId",
    "confirmationFunctionName", "appConnectionUrl", "appSecretArn", "appSecurityGroupId",
    "migratorFunctionName", "migrationsSha256", "alarmTopicArn", "dashboardName", "backupVaultName",
    "restoreTestingPlanName", "masterRotationFunctionName", "appRotationFunctionName", "budgetName",
    "dbScheduledHoursPerWeek",
)
CONDITIONAL_OUTPUTS = (
    "auditTrailArn", "auditBucketName", "auditLogGroupName", "auditKmsKeyArn", "auditTopicArn", "guardDutyDetectorId",
    "guardrailPolicyIds", "alarmTopicArn", "dashboardName", "backupVaultName", "restoreTestingPlanName",
    "dbScheduledHoursPerWeek",
)

PULUMI_TIMEOUT = 120
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")


def parse_outputs(text: str, stack: str = "?") -> dict[str, Any]:
    """Parse the JSON document ``pulumi stack output --json`` prints."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CruddurError(f"pulumi returned invalid JSON for stack {stack}: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise CruddurError(f"pulumi returned {type(data).__name__}, not an object, for stack {stack}")
    return data


def fetch(stack: str, *, pulumi: str = "pulumi", cwd=PROJECT_ROOT) -> dict[str, Any]:
    """Run the pulumi CLI and return the stack's outputs, secrets included."""
    if not stack or not _STACK_NAME.match(stack):
        raise CruddurError(f"invalid stack name {stack!r}")
    exe = shutil.which(pulumi)
    if exe is None:
        raise CruddurError(
            "the pulumi CLI is not installed or not on PATH (needed for -s/--stack); "
            "install it: https://www.pulumi.com/docs/iac/download-install/"
        )
    try:
        result = subprocess.run(
            [exe, "stack", "output", "--json", "--show-secrets", "--non-interactive", "--stack", stack],
            capture_output=True, text=True, cwd=cwd, timeout=PULUMI_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CruddurError(f"pulumi stack output for stack {stack} timed out after {PULUMI_TIMEOUT}s") from None
    if result.returncode != 0:
        detail = redact(" ".join(result.stderr.split()))[:300] or f"exit code {result.returncode}"
        if "no stack named" in detail.lower() or "not found" in detail.lower():
            raise CruddurError(f"stack {stack} does not exist (pulumi stack ls lists the stacks): {detail}")
        raise CruddurError(f"pulumi stack output failed for stack {stack}: {detail}")
    return parse_outputs(result.stdout, stack)


def require(outputs: dict[str, Any], key: str, stack: str) -> Any:
    value = outputs.get(key)
    if value in (None, ""):
        raise CruddurError(f"stack {stack} has no output {key!r}; has `pulumi up -s {stack}` completed?")
    return value
