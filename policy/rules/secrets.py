"""Secrets and keys: Secrets Manager secrets and SNS topics on a customer-managed key, secrets rotated, KMS keys
rotating. (Who their policies let in is judged wherever a document appears: ``access.py``.)"""

from __future__ import annotations

from .constants import KMS_KEY, SECRET, SECRET_ROTATION, SNS_TOPIC
from .props import aws_managed_key, known, of_type, short_type, switched_off
from .registry import Subject, resource_rule, stack_rule


@resource_rule("secrets-encrypted-with-cmk", types=(SECRET,),
               description="Secrets Manager secrets are encrypted with a customer-managed KMS key.",
               practices=("encryption-at-rest", "secrets"))
def secrets_encrypted_with_cmk(r: Subject) -> list[str]:
    key = r.props.get("kmsKeyId")
    if known(key) and (not key or aws_managed_key(key)):
        return [f"{r.label} is encrypted with the AWS-managed aws/secretsmanager key; set kms_key_id to the "
                "stack's customer-managed KMS key"]
    return []


@resource_rule("sns-encrypted-with-cmk", types=(SNS_TOPIC,),
               description="SNS topics (the alarm topic, the trail's notifications) are encrypted with a "
                           "customer-managed KMS key (never none, never alias/aws/sns).",
               practices=("encryption-at-rest",))
def sns_encrypted_with_cmk(r: Subject) -> list[str]:
    key = r.props.get("kmsMasterKeyId")
    if not known(key):
        return []
    if not key:
        return [f"{r.label} is not encrypted; set kms_master_key_id to the stack's customer-managed KMS key ARN"]
    if aws_managed_key(key):
        return [f"{r.label} is encrypted with the AWS-managed key {key}; set kms_master_key_id to the stack's "
                "customer-managed KMS key ARN (whose policy lets the publishing service use it)"]
    return []


@stack_rule("secrets-rotation-configured", types=(SECRET,), reads=(SECRET_ROTATION,),
            description="Every Secrets Manager secret of the stack rotates: a SecretRotation of this stack names it "
                        "(by ARN, id or name) with a schedule.",
            practices=("secrets",))
def secrets_rotation_configured(args) -> list[str]:
    rotations, undecided = [], False
    for _, p in of_type(args, SECRET_ROTATION):
        target = p.get("secretId")
        if not known(target):
            undecided = True
            continue
        rules = p.get("rotationRules")
        scheduled = isinstance(rules, dict) and any(
            not known(rules.get(k)) or rules.get(k) for k in ("automaticallyAfterDays", "scheduleExpression"))
        if scheduled or not known(rules):
            rotations.append(target)
    if undecided:
        return []
    problems = []
    for secret, p in of_type(args, SECRET):
        names = {p.get(k) for k in ("arn", "id", "name")} | {getattr(secret, "id", None)}
        if not names & {n for n in rotations if isinstance(n, str)}:
            problems.append(f"{short_type(SECRET)} '{secret.name}' has no rotation: declare an "
                            "aws.secretsmanager.SecretRotation for it with rotation_rules (automatically_after_days), "
                            "as components/master_rotation.py does")
    return problems


@resource_rule("kms-rotation-enabled", types=(KMS_KEY,), description="Symmetric KMS keys rotate automatically.",
               practices=("encryption-at-rest",))
def kms_rotation_enabled(r: Subject) -> list[str]:
    spec = r.props.get("customerMasterKeySpec") or r.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if known(spec) and spec != "SYMMETRIC_DEFAULT":
        return []  # only symmetric encryption keys can rotate automatically
    if switched_off(r.props.get("enableKeyRotation")):
        return [f"{r.label} has automatic key rotation off; set enable_key_rotation=True"]
    return []
