"""The read-only IAM actions ``cruddur stack check`` calls, one place: the command's help lists them, a test holds
every ``ctx.call`` of the checks to this list, and the CI tests hold both deploy roles (runbooks/ci-roles/) to
allowing them. ``sts:GetCallerIdentity`` (the budget's account) needs no permission."""

from __future__ import annotations

# (action, the resource it is called on: "*" or an ARN pattern with STACK for the stack's name)
READ_ACTIONS: tuple[tuple[str, str], ...] = (
    ("rds:DescribeDBInstances", "*"),
    ("rds:DescribeDBParameters", "*"),
    ("secretsmanager:DescribeSecret", "*"),
    ("secretsmanager:GetSecretValue", "*"),  # the current versions log in: only with --tunnel-port
    ("kms:Decrypt", "*"),  # the secrets' key
    ("cognito-idp:DescribeUserPool", "*"),
    ("cloudwatch:GetMetricStatistics", "*"),
    ("cloudwatch:DescribeAlarms", "*"),
    ("cloudtrail:GetTrailStatus", "*"),
    ("guardduty:GetDetector", "*"),
    ("lambda:GetFunctionCodeSigningConfig", "*"),
    ("lambda:GetCodeSigningConfig", "*"),
    ("sns:ListSubscriptionsByTopic", "*"),
    ("budgets:ViewBudget", "arn:aws:budgets::ACCOUNT_ID:budget/cruddur-STACK-monthly"),
    ("backup:ListRecoveryPointsByBackupVault", "*"),
    ("backup:GetRestoreTestingPlan", "*"),
    ("backup:ListRestoreJobs", "*"),
    ("ec2:DescribeSecurityGroups", "*"),
    ("ec2:DescribeRouteTables", "*"),
)
ACTIONS = tuple(action for action, _ in READ_ACTIONS)
