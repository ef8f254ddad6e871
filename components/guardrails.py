"""``Guardrails``: service control policies that keep every account under a target inside the practices.

Three SCPs, each attached to one target (an account, an OU or the organization root):

* **region deny** - every action outside the stack's ``allowedRegions`` is denied, except the global services AWS
  documents for this SCP (their endpoints live in us-east-1) and any extra exemptions the stack names;
* **protect audit** - nobody may stop, delete or reconfigure the CloudTrail trail, disable or delete the GuardDuty
  detector, delete or re-police the audit bucket (or the logs in it), or disable/delete KMS keys;
* **RDS** - nobody may create or restore a publicly accessible database, or create an unencrypted one.

The region deny and audit protection exempt one break-glass role (``aws:PrincipalArn`` ``ArnNotLike``
``arn:<partition>:iam::*:role/<name>``). The RDS rules exempt nobody: there is no legitimate public or unencrypted
database. SCPs never restrict the organization's management account or service-linked roles; see
``runbooks/guardrails.md`` for the rollout, the break-glass procedure and the rollback.

Documents are built with ``aws.iam.get_policy_document`` and sent minified, because AWS counts every character of
an SCP (whitespace included) against its 5,120-character limit; a document over the limit fails the deployment
here with a clear message instead of at the Organizations API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

SCP_MAX_CHARS = 5120

# Global services exempt from the region deny: the list in the AWS Organizations user guide's example SCP
# "Deny access to AWS based on the requested AWS Region" (orgs_manage_policies_scps_examples_general). Their
# endpoints are in us-east-1 (or are global), so denying by aws:RequestedRegion would break them everywhere.
GLOBAL_SERVICE_ACTIONS = (
    "a4b:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*", "aws-portal:*", "budgets:*", "ce:*",
    "chime:*", "cloudfront:*", "config:*", "cur:*", "directconnect:*", "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "fms:*", "globalaccelerator:*", "health:*", "iam:*",
    "importexport:*", "kms:*", "mobileanalytics:*", "networkmanager:*", "organizations:*", "pricing:*",
    "route53:*", "route53domains:*", "route53-recovery-cluster:*", "route53-recovery-control-config:*",
    "route53-recovery-readiness:*", "s3:GetAccountPublic*", "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*", "shield:*", "sts:*", "support:*",
    "trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*", "wellarchitected:*",
)

# Audit protection: what would stop, blind or erase the audit trail.
CLOUDTRAIL_ACTIONS = ("cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
                      "cloudtrail:PutEventSelectors")
GUARDDUTY_ACTIONS = ("guardduty:DeleteDetector", "guardduty:UpdateDetector",
                     "guardduty:DisassociateFromMasterAccount", "guardduty:DisassociateFromAdministratorAccount",
                     "guardduty:StopMonitoringMembers", "guardduty:DeletePublishingDestination")
AUDIT_BUCKET_ACTIONS = ("s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                        "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning")
AUDIT_OBJECT_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")
KMS_ACTIONS = ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:DisableKeyRotation")

# RDS: the condition keys exist only on these actions (Service Authorization Reference, Amazon RDS).
# rds:PubliclyAccessible is a request key of the create/restore-instance actions below; ModifyDBInstance has no
# such key (its only rds: key is rds:ManageMasterUserPassword), so an SCP cannot stop an existing instance from
# being made public: the network (no internet gateway) and the policy pack cover that.
RDS_PUBLIC_ACTIONS = ("rds:CreateDBInstance", "rds:CreateDBInstanceReadReplica",
                      "rds:RestoreDBInstanceFromDBSnapshot", "rds:RestoreDBInstanceFromS3",
                      "rds:RestoreDBInstanceToPointInTime")
# rds:StorageEncrypted: a key of the db resource (so CreateDBInstance) and a request key of CreateDBCluster and
# RestoreDBClusterFromS3. Encryption cannot be changed by a modify, and a restore inherits the snapshot's.
RDS_UNENCRYPTED_ACTIONS = ("rds:CreateDBInstance", "rds:CreateDBCluster", "rds:RestoreDBClusterFromS3")


@dataclass
class GuardrailsArgs:
    target_id: str
    allowed_regions: Sequence[str]
    break_glass_role_name: str
    # Physical-name prefix for the policies (SCP names are unique per organization), e.g. "cruddur-prod".
    name_prefix: str
    # S3 bucket-name pattern of the audit (CloudTrail) bucket, wildcards allowed, e.g. "cruddur-prod-trail*".
    audit_bucket_pattern: str
    # The stack's partition (``AwsContext.partition``): the break-glass role and audit bucket ARNs name it.
    partition: pulumi.Input[str]
    exempt_region_services: Sequence[str] = field(default_factory=tuple)


def _break_glass_exemption(partition: str, role_name: str) -> dict:
    return {"test": "ArnNotLike", "variable": "aws:PrincipalArn",
            "values": [f"arn:{partition}:iam::*:role/{role_name}"]}


def region_deny_statements(partition: str, args: GuardrailsArgs) -> list[dict]:
    not_actions = list(GLOBAL_SERVICE_ACTIONS) + [a for a in args.exempt_region_services
                                                  if a not in GLOBAL_SERVICE_ACTIONS]
    return [{
        "sid": "DenyOutsideAllowedRegions",
        "effect": "Deny",
        "notActions": not_actions,  # the provider's wire name: a plain dict is not key-translated
        "resources": ["*"],
        "conditions": [
            {"test": "StringNotEquals", "variable": "aws:RequestedRegion", "values": list(args.allowed_regions)},
            _break_glass_exemption(partition, args.break_glass_role_name),
        ],
    }]


def protect_audit_statements(partition: str, args: GuardrailsArgs) -> list[dict]:
    bucket = f"arn:{partition}:s3:::{args.audit_bucket_pattern}"
    exempt = _break_glass_exemption(partition, args.break_glass_role_name)
    return [
        {"sid": "ProtectCloudTrail", "effect": "Deny", "actions": list(CLOUDTRAIL_ACTIONS), "resources": ["*"],
         "conditions": [exempt]},
        {"sid": "ProtectGuardDuty", "effect": "Deny", "actions": list(GUARDDUTY_ACTIONS), "resources": ["*"],
         "conditions": [exempt]},
        {"sid": "ProtectAuditBucket", "effect": "Deny", "actions": list(AUDIT_BUCKET_ACTIONS),
         "resources": [bucket], "conditions": [exempt]},
        {"sid": "ProtectAuditLogs", "effect": "Deny", "actions": list(AUDIT_OBJECT_ACTIONS),
         "resources": [f"{bucket}/*"], "conditions": [exempt]},
        {"sid": "ProtectKmsKeys", "effect": "Deny", "actions": list(KMS_ACTIONS), "resources": ["*"],
         "conditions": [exempt]},
    ]


def rds_statements(partition: str, args: GuardrailsArgs) -> list[dict]:
    # BoolIfExists: the deny also applies when the request leaves the setting out, because RDS's defaults are
    # unencrypted storage and, with the default subnet group, a public instance. Callers must say false/true.
    return [
        {"sid": "DenyPublicDatabases", "effect": "Deny", "actions": list(RDS_PUBLIC_ACTIONS), "resources": ["*"],
         "conditions": [{"test": "BoolIfExists", "variable": "rds:PubliclyAccessible", "values": ["true"]}]},
        {"sid": "DenyUnencryptedDatabases", "effect": "Deny", "actions": list(RDS_UNENCRYPTED_ACTIONS),
         "resources": ["*"],
         "conditions": [{"test": "BoolIfExists", "variable": "rds:StorageEncrypted", "values": ["false"]}]},
    ]


# (part of the physical name, description, statements builder)
POLICIES = (
    ("deny-outside-regions", "Deny every action outside the allowed regions, except global services",
     region_deny_statements),
    ("protect-audit", "Deny stopping or erasing CloudTrail, GuardDuty, the audit bucket and KMS keys",
     protect_audit_statements),
    ("rds-private-encrypted", "Deny creating public or unencrypted RDS databases", rds_statements),
)


def _within_limit(name: str):
    def check(document: str) -> str:
        if len(document) > SCP_MAX_CHARS:
            raise ValueError(f"SCP {name} is {len(document)} characters; AWS allows {SCP_MAX_CHARS}. Shorten "
                             "organization.exemptRegionsServices or split the policy.")
        return document
    return check


class Guardrails(pulumi.ComponentResource):
    """The three SCPs and their attachments to ``args.target_id``."""

    policies: dict[str, aws.organizations.Policy]
    attachments: dict[str, aws.organizations.PolicyAttachment]
    policy_ids: pulumi.Output[dict]

    def __init__(self, name: str, args: GuardrailsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:guardrails:Guardrails", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        partition = pulumi.Output.from_input(args.partition)

        self.policies = {}
        self.attachments = {}
        for part, description, build in POLICIES:
            statements = partition.apply(lambda p, build=build: build(p, args))
            document = aws.iam.get_policy_document_output(statements=statements, opts=invoke)
            policy_name = f"{args.name_prefix}-{part}"
            policy = aws.organizations.Policy(
                f"{name}-{part}",
                name=policy_name,
                description=description,
                type="SERVICE_CONTROL_POLICY",
                content=document.minified_json.apply(_within_limit(policy_name)),
                opts=child,
            )
            self.attachments[part] = aws.organizations.PolicyAttachment(
                f"{name}-{part}-attachment",
                policy_id=policy.id,
                target_id=args.target_id,
                opts=child,
            )
            self.policies[part] = policy

        self.policy_ids = pulumi.Output.all(**{part: p.id for part, p in self.policies.items()})
        self.register_outputs({"policy_ids": self.policy_ids})
