"""The CI roles' policies (runbooks/ci-roles/) cover what the program declares, checked against the program itself.

Each stack is evaluated offline under the project's AWS mocks (ops/offline/stack_eval.py), which lists every
resource it declares (type token, inputs) and, here, every provider invoke it makes. Then:

- every resource type maps, through ``RESOURCE_SERVICES``, to the IAM service(s) whose API creates it, and the
  stack's deploy role allows that service (in the stack's region; S3 on the stack's bucket names only; IAM through
  the stack-tagged IAM statements; the budget, the cost allocation tag and the run schedule through statements of
  their own, ``OWN_STATEMENTS``, by name where IAM allows it); a type missing from the table fails with a line
  saying where to add it; the region statement holds no service that no configuration of the stack declares;
- every service principal that a role of the stack trusts is one the deploy role may pass that role to, and the
  PassRole statement covers the stack's roles by name;
- every service-linked role the declared services create on first use may be created;
- every invoke's read-only action is allowed to the preview role and to the deploy role;
- prod's never-destroy list holds the delete call of every type the stateful-resource guard protects.

A deploy role serves every configuration its stack may take, so dev is also evaluated with the options a dev stack
may switch (alarms off, a run schedule, the restore drill on): each configuration must be covered, and what the role
allows beyond the stack as configured must be needed by one of them.

A new resource type, trusted principal or invoke in the program fails here until the policies (and this table)
follow, instead of failing a deploy with AccessDenied.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

import pytest

from ops.offline import aws_mocks
from ops.offline.stack_eval import Evaluation, evaluate
from ops.preview_guard import STATEFUL_TYPES
from tests.ci.ci_helpers import listify, role_document

REGION = "eu-west-1"
THIS_FILE = "tests/ci/test_ci_role_coverage.py"
ACTIONS_REFERENCE = ("https://docs.aws.amazon.com/service-authorization/latest/reference/"
                     "reference_policies_actions-resources-contextkeys.html")

# Resource type token -> what the deploy role needs to create, change and delete it: IAM service prefixes (the
# whole service, in the stack's region) or single actions (a "prefix:Action"). An exact token wins over its
# module's entry (a token prefix ending in "/"). `()` marks what calls no AWS API (components, providers, random).
# S3 and IAM are checked against their own statements (the stack's bucket names; the stack-tagged IAM roles).
RESOURCE_SERVICES: dict[str, tuple[str, ...]] = {
    "aws:backup/vault:Vault": ("backup", "backup-storage:MountCapsule"),  # CreateBackupVault needs MountCapsule
    "aws:backup/": ("backup",),
    "aws:budgets/budget:Budget": ("budgets",),
    "aws:costexplorer/costAllocationTag:CostAllocationTag": ("ce",),
    "aws:cloudtrail/": ("cloudtrail",),
    "aws:cloudwatch/logGroup:LogGroup": ("logs",),
    "aws:cloudwatch/logStream:LogStream": ("logs",),
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter": ("logs",),
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": ("logs",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch",),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ("cloudwatch",),
    "aws:cloudwatch/dashboard:Dashboard": ("cloudwatch",),
    "aws:cloudwatch/eventRule:EventRule": ("events",),
    "aws:cloudwatch/eventTarget:EventTarget": ("events",),
    "aws:cognito/": ("cognito-idp",),
    "aws:ec2/": ("ec2",),
    "aws:ec2transitgateway/": ("ec2",),
    "aws:vpc/": ("ec2",),
    "aws:guardduty/": ("guardduty",),
    "aws:kms/": ("kms",),
    "aws:lambda/": ("lambda",),
    "aws:rds/": ("rds",),
    "aws:secretsmanager/": ("secretsmanager",),
    "aws:signer/": ("signer",),
    "aws:sns/": ("sns",),
    "aws:sqs/": ("sqs",),
    "aws:s3/": ("s3",),
    "aws:scheduler/schedule:Schedule": ("scheduler",),
    "aws:iam/role:Role": ("iam",),
    "aws:iam/rolePolicy:RolePolicy": ("iam",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam",),
    "aws:iam/policy:Policy": ("iam",),
    "pulumi:providers:": (),
    "random:": (),
    "cruddur:": (),  # the program's own component resources
}

# Types the deploy roles manage through a statement of their own, never through the region statement: type -> (Sid,
# every call its create/read/update/delete makes, the ARN of one declared resource). The budget is tagged (default
# tags), so its calls include tagging; a schedule has no tags; cost allocation tags have no resource-level
# permissions (Resource "*"). Sources: the Service Authorization Reference of AWS Budgets (budget/NAME, no region),
# Cost Explorer and EventBridge Scheduler (schedule/GROUP/NAME; schedules without a group are in "default").
OWN_STATEMENTS: dict[str, tuple[str, tuple[str, ...], Callable[[Any], str]]] = {
    "aws:budgets/budget:Budget": (
        "BudgetOfThisStack",
        ("budgets:ViewBudget", "budgets:ModifyBudget", "budgets:ListTagsForResource", "budgets:TagResource",
         "budgets:UntagResource"),
        lambda r: f"arn:aws:budgets::ACCOUNT_ID:budget/{r.props['name']}"),
    "aws:costexplorer/costAllocationTag:CostAllocationTag": (
        "ActivateTheStackCostAllocationTag",
        ("ce:ListCostAllocationTags", "ce:UpdateCostAllocationTagsStatus"),
        lambda r: "*"),
    "aws:scheduler/schedule:Schedule": (
        "RunScheduleOfThisStack",
        ("scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"),
        lambda r: f"arn:aws:scheduler:{REGION}:ACCOUNT_ID:schedule/{r.props.get('groupName') or 'default'}/"
                  f"{r.props['name']}"),
}
# Services whose one endpoint is in us-east-1 (their requests' aws:RequestedRegion): StayInTheStackRegion must
# exempt exactly the calls the role makes to them, or it denies them.
GLOBAL_SERVICES = ("budgets", "ce")
ALWAYS_EXEMPT_FROM_THE_REGION = {"iam:*", "sts:*", "s3:ListAllMyBuckets"}

# IAM types -> the write calls the stack-tagged IAM statements must allow (IAM is global: no region statement).
IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("iam:CreateRole", "iam:TagRole", "iam:GetRole", "iam:UpdateAssumeRolePolicy",
                          "iam:DeleteRole"),
    "aws:iam/rolePolicy:RolePolicy": ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam:AttachRolePolicy", "iam:DetachRolePolicy"),
    "aws:iam/policy:Policy": ("iam:CreatePolicy", "iam:TagPolicy", "iam:GetPolicy", "iam:CreatePolicyVersion",
                              "iam:DeletePolicyVersion", "iam:DeletePolicy"),
}

# Resource types whose creation makes the service create its service-linked role on first use in the account
# (the caller then needs iam:CreateServiceLinkedRole for that AWSServiceName). Sources, AWS docs "Using
# service-linked roles" of each service: RDS (AWSServiceRoleForRDS), GuardDuty (AWSServiceRoleForAmazonGuardDuty),
# EC2 Instance Connect Endpoint (AWSServiceRoleForEC2InstanceConnect), AWS Backup (AWSServiceRoleForBackup, and
# AWSServiceRoleForBackupRestoreTesting, which trusts restore-testing.backup.amazonaws.com).
SERVICE_LINKED_ROLES: dict[str, tuple[str, ...]] = {
    "aws:rds/instance:Instance": ("rds.amazonaws.com",),
    "aws:rds/cluster:Cluster": ("rds.amazonaws.com",),
    "aws:guardduty/detector:Detector": ("guardduty.amazonaws.com",),
    "aws:guardduty/detectorFeature:DetectorFeature": ("guardduty.amazonaws.com",),
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint": ("ec2-instance-connect.amazonaws.com",),
    "aws:backup/vault:Vault": ("backup.amazonaws.com",),
    "aws:backup/plan:Plan": ("backup.amazonaws.com",),
    "aws:backup/selection:Selection": ("backup.amazonaws.com",),
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": ("restore-testing.backup.amazonaws.com",),
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": ("restore-testing.backup.amazonaws.com",),
}

# Provider invoke token -> the IAM action it needs, or None when it needs no permission (computed locally, or
# sts:GetCallerIdentity, which IAM never denies).
INVOKE_ACTIONS: dict[str, str | None] = {
    "aws:index/getCallerIdentity:getCallerIdentity": None,
    "aws:index/getPartition:getPartition": None,
    "aws:iam/getPolicyDocument:getPolicyDocument": None,
    "aws:index/getRegion:getRegion": "ec2:DescribeRegions",
    "aws:index/getAvailabilityZones:getAvailabilityZones": "ec2:DescribeAvailabilityZones",
    "aws:ssm/getParameter:getParameter": "ssm:GetParameter",
    "aws:guardduty/getDetector:getDetector": "guardduty:GetDetector",
}

# The stateful-resource guard's types (ops/preview_guard.py) -> the calls that destroy them, all denied to prod's
# deploy role. `()`: no delete call of its own (a secret's value goes with the secret).
DESTROYING_ACTIONS: dict[str, tuple[str, ...]] = {
    "aws:rds/instance:Instance": ("rds:DeleteDBInstance",),
    "aws:rds/cluster:Cluster": ("rds:DeleteDBCluster",),
    "aws:secretsmanager/secret:Secret": ("secretsmanager:DeleteSecret",),
    "aws:secretsmanager/secretVersion:SecretVersion": (),
    "aws:kms/key:Key": ("kms:ScheduleKeyDeletion", "kms:DisableKey"),
    "aws:s3/bucket:Bucket": ("s3:DeleteBucket",),
    "aws:s3/bucketV2:BucketV2": ("s3:DeleteBucket",),
    "aws:cloudwatch/logGroup:LogGroup": ("logs:DeleteLogGroup",),
    "aws:cognito/userPool:UserPool": ("cognito-idp:DeleteUserPool",),
    "aws:backup/vault:Vault": ("backup:DeleteBackupVault", "backup:DeleteRecoveryPoint"),
    "aws:backup/logicallyAirGappedVault:LogicallyAirGappedVault": ("backup:DeleteBackupVault",
                                                                   "backup:DeleteRecoveryPoint"),
}

# Types that hold the name of the S3 bucket they configure, and in which input.
BUCKET_INPUT = {"aws:s3/bucket:Bucket": "bucket", "aws:s3/bucketV2:BucketV2": "bucket"}


def statements(name: str) -> dict[str, dict]:
    return {st["Sid"]: st for st in role_document(name)["Statement"]}


def services_of(token: str) -> tuple[str, ...]:
    if token in RESOURCE_SERVICES:
        return RESOURCE_SERVICES[token]
    module = token.split("/", 1)[0] + "/" if "/" in token else None
    if module in RESOURCE_SERVICES:
        return RESOURCE_SERVICES[module]
    for prefix in ("pulumi:providers:", "random:", "cruddur:"):
        if token.startswith(prefix):
            return RESOURCE_SERVICES[prefix]
    pytest.fail(f"the program declares {token}, which RESOURCE_SERVICES in {THIS_FILE} does not know: add it with "
                f"the IAM service prefix whose API creates it ({ACTIONS_REFERENCE}), then give the deploy roles "
                "that service in runbooks/ci-roles/permissions-deploy-*.json", pytrace=False)


def allowed(policy: dict[str, dict], action: str, resource: str = "*") -> list[str]:
    """The Sids of the Allow statements that grant ``action`` on ``resource`` (conditions aside)."""
    return [sid for sid, st in policy.items() if st["Effect"] == "Allow"
            and any(fnmatchcase(action, pattern) for pattern in listify(st.get("Action", [])))
            and any(fnmatchcase(resource, pattern) for pattern in listify(st.get("Resource", [])))]


def denied_outright(policy: dict[str, dict], action: str) -> list[str]:
    """The Sids of unconditional Deny statements on every resource that name ``action``."""
    return [sid for sid, st in policy.items() if st["Effect"] == "Deny" and "Condition" not in st
            and "*" in listify(st.get("Resource", []))
            and any(fnmatchcase(action, pattern) for pattern in listify(st.get("Action", [])))]


class Evaluated:
    def __init__(self, evaluation: Evaluation, invokes: set[str]):
        self.evaluation = evaluation
        self.invokes = invokes


def _evaluate_recording_invokes(stack: str, overrides: dict | None = None) -> Evaluated:
    invokes: set[str] = set()
    original = aws_mocks.AwsMocks.call

    def recording_call(self, args):
        invokes.add(args.token)
        return original(self, args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws_mocks.AwsMocks, "call", recording_call)
        evaluation = evaluate(stack, overrides=overrides)
    return Evaluated(evaluation, invokes)


# The configurations each deploy role serves: each stack as its file sets it, and the options a dev stack may switch.
# A run schedule: two EventBridge Scheduler schedules and their role. The restore drill on: AWS Backup, and with the
# alarms off as well, the restore report's failed asynchronous invocations go to an encrypted SQS queue instead of
# the alarm topic.
DEV_WITH_RUN_SCHEDULE = "dev-with-run-schedule"
DEV_WITH_RESTORE_DRILL = "dev-with-restore-drill"
DEV_WITH_RESTORE_DRILL_WITHOUT_ALARMS = "dev-with-restore-drill-without-alarms"
CONFIGURATIONS: dict[str, tuple[str, dict | None]] = {
    "dev": ("dev", None),
    "prod": ("prod", None),
    DEV_WITH_RUN_SCHEDULE: ("dev", {"cruddur-db:dbRunSchedule": "Mon-Fri 08:00-19:00 Europe/Dublin"}),
    DEV_WITH_RESTORE_DRILL: ("dev", {"cruddur-db:restoreDrill": True}),
    DEV_WITH_RESTORE_DRILL_WITHOUT_ALARMS: ("dev", {"cruddur-db:restoreDrill": True, "cruddur-db:alarms": False}),
}


@pytest.fixture(scope="module")
def stacks() -> dict[str, Evaluated]:
    return {name: _evaluate_recording_invokes(stack, overrides)
            for name, (stack, overrides) in CONFIGURATIONS.items()}


@pytest.fixture(params=list(CONFIGURATIONS))
def stack(request, stacks) -> Evaluated:
    return stacks[request.param]


@pytest.fixture
def deploy(stack) -> dict[str, dict]:
    return statements(f"permissions-deploy-{stack.evaluation.stack}.json")


def served(stacks: dict[str, Evaluated], stack: str) -> list[Evaluated]:
    """Every configuration the deploy role of ``stack`` serves."""
    return [s for s in stacks.values() if s.evaluation.stack == stack]


def test_each_switchable_dev_option_is_evaluated_and_changes_what_dev_declares(stacks):
    types = {name: {r.type for r in s.evaluation.resources} for name, s in stacks.items()}
    assert "aws:scheduler/schedule:Schedule" in types[DEV_WITH_RUN_SCHEDULE] - types["dev"]
    assert "aws:backup/vault:Vault" in types[DEV_WITH_RESTORE_DRILL] - types["dev"]
    assert "aws:sqs/queue:Queue" in types[DEV_WITH_RESTORE_DRILL_WITHOUT_ALARMS] - types[DEV_WITH_RESTORE_DRILL]
    assert "aws:scheduler/schedule:Schedule" not in types["prod"]  # prod runs around the clock (settings.py)


def region_statement(policy: dict[str, dict]) -> dict:
    st = policy["ManageTheServicesTheProgramDeclaresInTheStackRegion"]
    assert st["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    assert st["Resource"] == "*"
    return st


def test_every_declared_resource_type_has_its_iam_service_in_the_table(stack):
    unknown = sorted({r.type for r in stack.evaluation.resources if not _known(r.type)})
    assert not unknown, (f"add {', '.join(unknown)} to RESOURCE_SERVICES in {THIS_FILE} with the IAM service "
                         f"prefix whose API creates it ({ACTIONS_REFERENCE})")


def _known(token: str) -> bool:
    module = token.split("/", 1)[0] + "/" if "/" in token else None
    return token in RESOURCE_SERVICES or module in RESOURCE_SERVICES or token.startswith(
        ("pulumi:providers:", "random:", "cruddur:"))


def test_the_deploy_role_may_call_every_service_the_stack_declares_in_its_region(stack, deploy):
    regional = listify(region_statement(deploy)["Action"])
    missing = {}
    for token in sorted({r.type for r in stack.evaluation.resources}):
        for wanted in regional_needs(token):
            if wanted not in regional:
                missing.setdefault(wanted, []).append(token)
            assert not denied_outright(deploy, wanted.replace("*", "Create")), (token, wanted)
    assert not missing, (f"permissions-deploy-{stack.evaluation.stack}.json, statement "
                         f"ManageTheServicesTheProgramDeclaresInTheStackRegion: add {sorted(missing)} "
                         f"(needed by {missing})")


def regional_needs(token: str) -> list[str]:
    """What the region statement must allow for ``token`` (S3, IAM and OWN_STATEMENTS types have their own)."""
    if token in OWN_STATEMENTS:
        return []
    return [need if ":" in need else f"{need}:*" for need in services_of(token) if need not in ("s3", "iam")]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_region_statement_holds_only_what_a_configuration_of_the_stack_declares(stacks, name):
    regional = set(listify(region_statement(statements(f"permissions-deploy-{name}.json"))["Action"]))
    needed = {wanted for s in served(stacks, name) for r in s.evaluation.resources for wanted in regional_needs(r.type)}
    assert regional == needed, (f"ManageTheServicesTheProgramDeclaresInTheStackRegion in permissions-deploy-{name}.json: "
                                f"remove {sorted(regional - needed)} (no configuration of {name} declares them), "
                                f"add {sorted(needed - regional)}")
    # The services of OWN_STATEMENTS stay out of it: the region statement would grant them on every resource.
    own_services = {action.split(":")[0] for _, actions, _ in OWN_STATEMENTS.values() for action in actions}
    assert not {action.split(":")[0] for action in regional} & own_services


def test_the_deploy_role_manages_the_budget_tag_and_schedule_by_their_own_statements(stack, deploy):
    name = stack.evaluation.stack
    other = "prod" if name == "dev" else "dev"
    declared = [r for r in stack.evaluation.resources if r.type in OWN_STATEMENTS]
    assert {r.type for r in declared} >= {"aws:budgets/budget:Budget",
                                           "aws:costexplorer/costAllocationTag:CostAllocationTag"}
    for r in declared:
        sid, actions, arn_of = OWN_STATEMENTS[r.type]
        arn = arn_of(r)
        assert sid in deploy, f"{r.type} {r.name}: add the statement {sid} to permissions-deploy-{name}.json"
        assert sorted(listify(deploy[sid]["Action"])) == sorted(actions), sid
        for action in actions:
            assert allowed(deploy, action, arn) == [sid], (f"{sid} in permissions-deploy-{name}.json must allow "
                                                           f"{action} on {arn} (for {r.type} {r.name})")
            assert not denied_outright(deploy, action), (sid, action)
        if arn != "*":  # named: the stack's own names only
            assert f"cruddur-{name}-" in arn, f"{r.type} {r.name} is not named cruddur-{name}-...: {arn}"
            for action in actions:
                assert not allowed(deploy, action, arn.replace(f"cruddur-{name}-", f"cruddur-{other}-")), (sid, action)


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_an_own_statement_is_there_only_when_a_configuration_of_the_stack_declares_its_type(stacks, name):
    policy = statements(f"permissions-deploy-{name}.json")
    declared = {r.type for s in served(stacks, name) for r in s.evaluation.resources}
    for token, (sid, _, _) in OWN_STATEMENTS.items():
        assert (sid in policy) == (token in declared), (
            f"permissions-deploy-{name}.json: {sid} " + ("is missing" if token in declared
                                                          else f"grants what no configuration of {name} declares"))


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_region_guardrail_exempts_exactly_the_global_calls_the_role_makes(name):
    """AWS Budgets and Cost Explorer answer in us-east-1 only: StayInTheStackRegion would deny them, so it exempts
    the calls the role is allowed to make to them, and nothing regional."""
    policy = statements(f"permissions-deploy-{name}.json")
    guard = policy["StayInTheStackRegion"]
    assert guard["Effect"] == "Deny" and guard["Condition"] == {
        "StringNotEquals": {"aws:RequestedRegion": REGION}}
    global_calls = {action for st in policy.values() if st["Effect"] == "Allow"
                    for action in listify(st.get("Action", [])) if action.split(":")[0] in GLOBAL_SERVICES}
    assert global_calls, f"permissions-deploy-{name}.json allows no call to {GLOBAL_SERVICES}"
    assert set(guard["NotAction"]) == ALWAYS_EXEMPT_FROM_THE_REGION | global_calls


def test_the_deploy_role_manages_the_stack_buckets_by_their_names_only(stack, deploy):
    name = stack.evaluation.stack
    other = "prod" if name == "dev" else "dev"
    s3_types = [r for r in stack.evaluation.resources if "s3" in services_of(r.type)]
    assert s3_types, "the program declares no S3 resource: drop BucketsOfThisStack from the deploy policies"
    buckets = {r.props["bucket"] for r in s3_types if r.type in BUCKET_INPUT}
    assert buckets
    # Every S3 resource of the stack names its bucket, and every such bucket is one the stack declares.
    unknown = sorted(f"{r.type} {r.name}" for r in s3_types if r.props.get("bucket") not in buckets)
    assert not unknown, f"S3 resources outside the stack's declared buckets {sorted(buckets)}: {unknown}"
    st = deploy["BucketsOfThisStack"]
    assert st["Resource"] == [f"arn:aws:s3:::cruddur-{name}-*", f"arn:aws:s3:::cruddur-{name}-*/*"]
    for bucket in sorted(buckets):
        assert bucket.startswith(f"cruddur-{name}-"), bucket
        for action in ("s3:CreateBucket", "s3:PutBucketPolicy", "s3:PutBucketLogging", "s3:DeleteBucket"):
            assert "BucketsOfThisStack" in allowed(deploy, action, f"arn:aws:s3:::{bucket}"), (action, bucket)
        assert "BucketsOfThisStack" in allowed(deploy, "s3:PutObject", f"arn:aws:s3:::{bucket}/unsigned/x.zip")
    assert not allowed(deploy, "s3:CreateBucket", f"arn:aws:s3:::cruddur-{other}-trail-123456789012")
    assert not allowed(deploy, "s3:CreateBucket", "arn:aws:s3:::someone-elses-bucket")


def test_the_deploy_role_manages_the_stack_iam_resources_only_when_tagged_for_the_stack(stack, deploy):
    name = stack.evaluation.stack
    iam_types = sorted({r.type for r in stack.evaluation.resources if "iam" in services_of(r.type)})
    assert iam_types
    for token in iam_types:
        assert token in IAM_ACTIONS, f"add {token} to IAM_ACTIONS in {THIS_FILE} with the IAM calls it makes"
        for action in IAM_ACTIONS[token]:
            sids = allowed(deploy, action, "arn:aws:iam::ACCOUNT_ID:role/x") + allowed(
                deploy, action, "arn:aws:iam::ACCOUNT_ID:policy/x")
            assert sids, f"no statement of permissions-deploy-{name}.json allows {action} (for {token})"
            for sid in sids:
                condition = deploy[sid]["Condition"]["StringEquals"]
                assert name in (condition.get("aws:RequestTag/Stack"), condition.get("aws:ResourceTag/Stack")), sid
    # The tag conditions hold because the one AWS provider tags everything with Stack=<stack> (default_tags).
    (provider,) = stack.evaluation.of_type("pulumi:providers:aws")
    assert json.loads(provider.props["defaultTags"])["tags"]["Stack"] == name
    for r in stack.evaluation.resources:
        if r.custom and r.type.startswith("aws:"):
            assert r.provider.startswith(provider.urn + "::"), f"{r.type} {r.name} does not use the tagging provider"


def trusted_services(role) -> set[str]:
    document = json.loads(role.props["assumeRolePolicy"])
    return {service for st in listify(document["Statement"]) if st["Effect"] == "Allow"
            and "sts:AssumeRole" in listify(st["Action"])
            for service in listify(st.get("Principal", {}).get("Service", []))}


def role_arn(role) -> str:
    """The role's ARN: its name, or the auto-name Pulumi gives it (logical name, a dash and 7 random characters)."""
    name = role.props.get("name") or f"{role.name}-a1b2c3d"
    return f"arn:aws:iam::ACCOUNT_ID:role{role.props.get('path') or '/'}{name}"


def test_the_deploy_role_may_pass_each_stack_role_to_the_services_that_role_trusts(stack, deploy):
    name = stack.evaluation.stack
    other = "prod" if name == "dev" else "dev"
    st = deploy["PassThisStackRolesToItsServicesOnly"]
    assert st["Effect"] == "Allow" and st["Action"] == "iam:PassRole"
    # IAM ignores role tags for iam:PassRole (IAM User Guide, "Grant a user permissions to pass a role to an AWS
    # service"): the statement must name the roles, not test their Stack tag.
    assert "aws:ResourceTag/Stack" not in json.dumps(st["Condition"])
    passed_to = listify(st["Condition"]["StringEquals"]["iam:PassedToService"])
    roles = stack.evaluation.of_type("aws:iam/role:Role")
    assert roles
    for role in roles:
        services = trusted_services(role)
        assert services, f"role {role.name} trusts no service"
        missing = sorted(services - set(passed_to))
        assert not missing, (f"role {role.name} trusts {missing}: add them to iam:PassedToService of "
                             f"PassThisStackRolesToItsServicesOnly in permissions-deploy-{name}.json")
        assert any(fnmatchcase(role_arn(role), pattern) for pattern in listify(st["Resource"])), (
            f"PassThisStackRolesToItsServicesOnly in permissions-deploy-{name}.json does not cover role "
            f"{role.name} ({role_arn(role)}): name it cruddur-{name}-... in the program or add its name pattern")
    assert not any(fnmatchcase(f"arn:aws:iam::ACCOUNT_ID:role/cruddur-{other}-backup", pattern)
                   for pattern in listify(st["Resource"]))
    assert not any(fnmatchcase("arn:aws:iam::ACCOUNT_ID:role/cruddur-db-ci-deploy-prod", pattern)
                   for pattern in listify(st["Resource"]))



@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_deploy_role_passes_roles_to_no_service_beyond_what_a_configuration_trusts(stacks, name):
    st = statements(f"permissions-deploy-{name}.json")["PassThisStackRolesToItsServicesOnly"]
    passed_to = set(listify(st["Condition"]["StringEquals"]["iam:PassedToService"]))
    every_trusted = {service for s in served(stacks, name) for role in s.evaluation.of_type("aws:iam/role:Role")
                     for service in trusted_services(role)}
    assert passed_to == every_trusted, (f"PassThisStackRolesToItsServicesOnly in permissions-deploy-{name}.json: "
                                        f"remove {sorted(passed_to - every_trusted)}, add "
                                        f"{sorted(every_trusted - passed_to)}")


def test_the_deploy_role_may_create_the_service_linked_roles_of_the_declared_services(stack, deploy):
    st = deploy["ServiceLinkedRolesOfTheseServices"]
    assert st["Action"] == "iam:CreateServiceLinkedRole"
    names = set(listify(st["Condition"]["StringEquals"]["iam:AWSServiceName"]))
    needed = {service: token for r in stack.evaluation.resources
              for token in [r.type] for service in SERVICE_LINKED_ROLES.get(token, ())}
    missing = sorted(set(needed) - names)
    assert not missing, (f"add {missing} (for {[needed[m] for m in missing]}) to iam:AWSServiceName of "
                         f"ServiceLinkedRolesOfTheseServices in permissions-deploy-{stack.evaluation.stack}.json")


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_deploy_role_creates_no_service_linked_role_that_no_configuration_needs(stacks, name):
    st = statements(f"permissions-deploy-{name}.json")["ServiceLinkedRolesOfTheseServices"]
    names = set(listify(st["Condition"]["StringEquals"]["iam:AWSServiceName"]))
    needed = {service for s in served(stacks, name) for r in s.evaluation.resources
              for service in SERVICE_LINKED_ROLES.get(r.type, ())}
    assert names == needed, f"service-linked roles no configuration of {name} needs: {sorted(names - needed)}"


def test_every_invoke_the_program_makes_is_allowed_to_the_preview_and_deploy_roles(stack, deploy):
    preview = statements("permissions-preview.json")
    assert stack.invokes, "the recording saw no invoke: the mocks' call hook changed"
    for token in sorted(stack.invokes):
        assert token in INVOKE_ACTIONS, (f"the program invokes {token}: add it to INVOKE_ACTIONS in {THIS_FILE} "
                                         "with the read-only IAM action it needs (None if it needs none)")
        action = INVOKE_ACTIONS[token]
        if action is None:
            continue
        assert "ProgramInvokesReadOnly" in allowed(preview, action), (
            f"add {action} (for {token}) to ProgramInvokesReadOnly in permissions-preview.json")
        assert allowed(deploy, action), f"permissions-deploy-{stack.evaluation.stack}.json does not allow {action}"


def test_prod_never_destroys_what_the_stateful_resource_guard_protects():
    unknown = sorted(set(STATEFUL_TYPES) - set(DESTROYING_ACTIONS))
    assert not unknown, (f"ops/preview_guard.py protects {unknown}: add them to DESTROYING_ACTIONS in {THIS_FILE} "
                         "with the calls that destroy them")
    deny = set(statements("permissions-deploy-prod.json")["ProdIsNeverDestroyedByThePipeline"]["Action"])
    missing = sorted({a for token in STATEFUL_TYPES for a in DESTROYING_ACTIONS[token]} - deny)
    assert not missing, f"add {missing} to ProdIsNeverDestroyedByThePipeline in permissions-deploy-prod.json"


def test_an_unknown_resource_type_fails_with_a_line_naming_the_table():
    with pytest.raises(pytest.fail.Exception) as failed:
        services_of("aws:apigateway/restApi:RestApi")
    assert "RESOURCE_SERVICES" in str(failed.value) and THIS_FILE in str(failed.value)
    assert services_of("aws:cloudwatch/metricAlarm:MetricAlarm") == ("cloudwatch",)
    assert services_of("aws:cloudwatch/eventRule:EventRule") == ("events",)
    assert services_of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") == ("ec2",)
    assert services_of("aws:backup/vault:Vault") == ("backup", "backup-storage:MountCapsule")


def test_the_preview_role_reads_only_what_the_program_invokes(stacks):
    # `pulumi preview` without --refresh (both workflows) reads no resource: its only AWS calls are the invokes.
    preview = statements("permissions-preview.json")
    wanted = sorted({INVOKE_ACTIONS[t] for s in stacks.values() for t in s.invokes if INVOKE_ACTIONS.get(t)})
    assert sorted(listify(preview["ProgramInvokesReadOnly"]["Action"])) == wanted
