"""Every policy of the pack: it passes on the committed dev and prod stacks, and it reports the violation for a
real recorded resource (or stack) with exactly one property changed. Unknown values are never violations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from ops.offline.stack_eval import evaluate
from ops.offline.verdicts import resource_args, stack_args
from tests.policy.conftest import (
    REMOVE,
    changed,
    document,
    policies,
    replaced,
    resource_violations,
    stack_violations,
    violations,
)

INSTANCE = "aws:rds/instance:Instance"
MANDATORY = [r.name for r in policies.RULES if r.enforcement.value == "mandatory"]
DEV_ADVISORIES = {"rds-backup-retention-dev", "cloudtrail-bucket-retained-dev"}


def instance(evaluation):
    return evaluation.one(INSTANCE)


# -- the committed stacks pass ------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule_name", MANDATORY)
def test_mandatory_policy_passes_on_committed_stacks(rule_name, dev, prod):
    assert violations(rule_name, dev) == []
    assert violations(rule_name, prod) == []


@pytest.mark.parametrize("rule_name", [r.name for r in policies.RULES if r.enforcement.value == "advisory"])
def test_advisory_policy_passes_on_prod_and_flags_only_dev_differences(rule_name, dev, prod):
    assert violations(rule_name, prod) == []  # dev-only rules never apply to prod
    if rule_name in DEV_ADVISORIES:
        assert violations(rule_name, dev), "dev's committed config differs here on purpose"
    else:
        assert violations(rule_name, dev) == []


def test_dev_advisories_are_the_documented_differences(dev):
    assert violations("rds-backup-retention-dev", dev) == [
        "rds Instance 'db-instance' keeps 1 day(s) of automated backups; set backup_retention_period >= 7 "
        "(cruddur-db:backupRetentionDays)"]
    assert violations("cloudtrail-bucket-retained-dev", dev) == [
        "s3 Bucket 'audit-bucket' holds CloudTrail log files and has force_destroy on; set force_destroy=False "
        "(cruddur-db:trailBucketForceDestroy false)"]


# -- RDS ----------------------------------------------------------------------------------------------------------
def test_rds_not_public(prod):
    broken = changed(instance(prod), publiclyAccessible=True)
    assert resource_violations("rds-not-public", prod, broken) == [
        "rds Instance 'db-instance' is publicly accessible; set publicly_accessible=False (the database lives in "
        "private subnets; operators use the Instance Connect Endpoint)"]


@pytest.mark.parametrize("change, expected", [
    ({"storageEncrypted": False}, "has unencrypted storage"),
    ({"storageEncrypted": REMOVE}, "has unencrypted storage"),
    ({"kmsKeyId": REMOVE}, "is not encrypted with a customer-managed KMS key (kms_key_id is unset)"),
    ({"kmsKeyId": "alias/aws/rds"}, "(kms_key_id is alias/aws/rds)"),
])
def test_rds_encrypted_with_cmk(dev, change, expected):
    (message,) = resource_violations("rds-encrypted-with-cmk", dev, changed(instance(dev), **change))
    assert message.startswith("rds Instance 'db-instance' ") and expected in message


def test_rds_deletion_protection_is_mandatory_in_prod_and_advisory_in_dev(prod, dev):
    message = ("rds Instance 'db-instance' has deletion protection off; set deletion_protection=True "
               "(cruddur-db:deletionProtection true)")
    assert resource_violations("rds-deletion-protection", prod,
                               changed(instance(prod), deletionProtection=False)) == [message]
    dev_off = changed(instance(dev), deletionProtection=False)
    assert resource_violations("rds-deletion-protection", dev, dev_off) == []  # dev may decommission
    assert resource_violations("rds-deletion-protection-dev", dev, dev_off) == [message]
    assert policies.rule("rds-deletion-protection-dev").enforcement.value == "advisory"


def test_rds_backup_retention(prod):
    assert resource_violations("rds-backup-retention", prod, changed(instance(prod), backupRetentionPeriod=6)) == [
        "rds Instance 'db-instance' keeps 6 day(s) of automated backups; set backup_retention_period >= 7 "
        "(cruddur-db:backupRetentionDays)"]
    assert resource_violations("rds-backup-retention", prod, changed(instance(prod), backupRetentionPeriod=7)) == []


def test_rds_iam_auth(prod):
    assert resource_violations("rds-iam-auth", prod,
                               changed(instance(prod), iamDatabaseAuthenticationEnabled=False)) == [
        "rds Instance 'db-instance' has IAM database authentication off; set iam_database_authentication_enabled=True"]


def test_rds_log_exports(dev):
    (message,) = resource_violations("rds-log-exports", dev,
                                     changed(instance(dev), enabledCloudwatchLogsExports=["postgresql"]))
    assert message.startswith("rds Instance 'db-instance' does not export its upgrade log(s) to CloudWatch Logs")
    (message,) = resource_violations("rds-log-exports", dev,
                                     changed(instance(dev), enabledCloudwatchLogsExports=REMOVE))
    assert "postgresql, upgrade" in message


@pytest.mark.parametrize("username", ["postgres", "root", "admin", "rdsadmin", "Postgres"])
def test_rds_no_default_admin_username(prod, username):
    (message,) = resource_violations("rds-no-default-admin-username", prod, changed(instance(prod), username=username))
    assert f"uses the default admin name '{username}'" in message and "cruddur_admin" in message


def _parameter_group(evaluation):
    return evaluation.one("aws:rds/parameterGroup:ParameterGroup")


def test_rds_tls_enforced_needs_force_ssl_in_the_linked_group(prod):
    group = _parameter_group(prod)
    parameters = [dict(p, value="0") if p["name"] == "rds.force_ssl" else p for p in group.props["parameters"]]
    broken = replaced(prod, group, changed(group, parameters=parameters))
    assert stack_violations("rds-tls-enforced", broken) == [
        "rds Instance 'db-instance' links parameter group 'db-params' without rds.force_ssl=1; add "
        "{name: rds.force_ssl, value: '1'} so the server refuses non-TLS connections"]
    without = [p for p in group.props["parameters"] if p["name"] != "rds.force_ssl"]
    assert stack_violations("rds-tls-enforced", replaced(prod, group, changed(group, parameters=without)))


def test_rds_tls_enforced_needs_a_linked_group_of_this_stack(prod):
    db = instance(prod)
    (message,) = stack_violations("rds-tls-enforced",
                                  replaced(prod, db, changed(db, parameterGroupName="default.postgres17")))
    assert "links parameter group 'default.postgres17', which this stack does not declare" in message
    (message,) = stack_violations("rds-tls-enforced", replaced(prod, db, changed(db, parameterGroupName=REMOVE)))
    assert "uses the engine's default parameter group" in message


# -- network ------------------------------------------------------------------------------------------------------
def test_sg_rule_open_to_the_world_ipv4(prod):
    rule = prod.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "db-in-from-operator")
    broken = changed(rule, referencedSecurityGroupId=REMOVE, cidrIpv4="0.0.0.0/0")
    assert resource_violations("sg-no-world-open-rules", prod, broken) == [
        "vpc SecurityGroupIngressRule 'db-in-from-operator' has an ingress rule open to 0.0.0.0/0; allow a named "
        "security group (referenced_security_group_id) or a specific range instead"]
    assert resource_violations("sg-no-world-open-rules", prod, changed(rule, cidrIpv4="10.40.0.0/16")) == []


def test_sg_egress_rule_open_to_the_world_ipv6(prod):
    rule = prod.one("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "db-out-from-operator")
    (message,) = resource_violations("sg-no-world-open-rules", prod, changed(rule, cidrIpv6="::/0"))
    assert "has an egress rule open to ::/0" in message


def test_sg_inline_rules_open_to_the_world(prod):
    group = prod.one("aws:ec2/securityGroup:SecurityGroup", "db-sg")
    inline = [{"fromPort": 5432, "toPort": 5432, "protocol": "tcp", "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"]}]
    (message,) = resource_violations("sg-no-world-open-rules", prod, changed(group, ingress=inline))
    assert message.startswith("ec2 SecurityGroup 'db-sg' has an ingress rule open to 0.0.0.0/0")
    default = prod.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    egress = [{"fromPort": 0, "toPort": 0, "protocol": "-1", "ipv6CidrBlocks": ["::/0"]}]
    (message,) = resource_violations("sg-no-world-open-rules", prod, changed(default, egress=egress))
    assert "'network-default-sg' has an egress rule open to ::/0" in message


# -- secrets and keys ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [REMOVE, "alias/aws/secretsmanager", ""])
def test_secret_encrypted_with_cmk(prod, key):
    secret = prod.one("aws:secretsmanager/secret:Secret", "db-master-secret")
    assert resource_violations("secrets-encrypted-with-cmk", prod, changed(secret, kmsKeyId=key)) == [
        "secretsmanager Secret 'db-master-secret' is encrypted with the AWS-managed aws/secretsmanager key; set "
        "kms_key_id to the stack's customer-managed KMS key"]


ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"


@pytest.mark.parametrize("secret, rotation", [("app-secret", "app-rotation-schedule"),
                                              ("db-master-secret", "master-rotation-schedule")])
def test_every_secret_must_rotate(stack, secret, rotation):
    assert stack_violations("secrets-rotation-configured", stack) == []
    without = replaced(stack, stack.one(ROTATION, rotation))
    assert stack_violations("secrets-rotation-configured", without) == [
        f"secretsmanager Secret '{secret}' has no rotation: declare an aws.secretsmanager.SecretRotation for it with "
        "rotation_rules (automatically_after_days), as components/master_rotation.py does"]
    # a rotation of some other secret does not count, nor one without a schedule
    schedule = stack.one(ROTATION, rotation)
    elsewhere = changed(schedule, secretId="arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf")
    assert len(stack_violations("secrets-rotation-configured", replaced(stack, schedule, elsewhere))) == 1
    unscheduled = changed(schedule, rotationRules={})
    assert len(stack_violations("secrets-rotation-configured", replaced(stack, schedule, unscheduled))) == 1
    # by name counts too
    named = changed(schedule, secretId=stack.one("aws:secretsmanager/secret:Secret", secret).outputs["name"])
    assert stack_violations("secrets-rotation-configured", replaced(stack, schedule, named)) == []


def test_secrets_rotation_is_mandatory_on_both_stacks(pack):
    rule = pack.rule("secrets-rotation-configured")
    assert rule.enforcement == EnforcementLevel.MANDATORY and rule.environments == ("dev", "prod")


@pytest.mark.parametrize("name", ["data-key", "audit-key-key"])
def test_kms_rotation(prod, name):
    key = prod.one("aws:kms/key:Key", name)
    assert resource_violations("kms-rotation-enabled", prod, changed(key, enableKeyRotation=False)) == [
        f"kms Key '{name}' has automatic key rotation off; set enable_key_rotation=True"]
    # Asymmetric keys cannot rotate: not a violation.
    assert resource_violations("kms-rotation-enabled", prod,
                               changed(key, enableKeyRotation=False, customerMasterKeySpec="RSA_2048")) == []


# -- CloudTrail ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, expected", [
    ({"isMultiRegionTrail": False}, "records one region only; set is_multi_region_trail=True"),
    ({"isMultiRegionTrail": REMOVE}, "records one region only"),
    ({"includeGlobalServiceEvents": False}, "skips global service events (IAM, STS)"),
    ({"enableLogFileValidation": False}, "has log file validation off; set enable_log_file_validation=True"),
    ({"kmsKeyId": REMOVE}, "log files are not encrypted with a customer-managed KMS key; set kms_key_id"),
])
def test_cloudtrail_hardened(stack, change, expected):
    (message,) = resource_violations("cloudtrail-hardened", stack, changed(stack.one("aws:cloudtrail/trail:Trail"),
                                                                           **change))
    assert message.startswith("cloudtrail Trail 'audit-trail'") and expected in message


def test_audit_trail_present_in_prod_advisory_in_dev(prod, evaluate_with):
    without = replaced(prod, prod.one("aws:cloudtrail/trail:Trail"))
    message = ("the stack declares no CloudTrail trail; compose components.audit.Audit with "
               "cruddur-db:auditTrail true")
    assert stack_violations("audit-trail-present", without) == [message]
    dev_off = evaluate_with("dev", {"auditTrail": False})
    assert stack_violations("audit-trail-present", dev_off) == []
    assert stack_violations("audit-trail-present-dev", dev_off) == [message]


def test_trail_bucket_must_block_public_access(prod):
    block = prod.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-bucket-public-access")
    label = "cloudtrail Trail 'audit-trail' bucket 'cruddur-prod-trail-123456789012'"
    assert stack_violations("cloudtrail-bucket-protected", replaced(prod, block)) == [
        f"{label} has no public-access block in this stack; declare an aws.s3.BucketPublicAccessBlock with all "
        "four settings True"]
    assert stack_violations("cloudtrail-bucket-protected",
                            replaced(prod, block, changed(block, restrictPublicBuckets=False))) == [
        f"{label} leaves restrictPublicBuckets off; set all four public-access blocks to True"]
    other_bucket = changed(block, bucket="someone-elses-bucket")
    assert "has no public-access block" in stack_violations("cloudtrail-bucket-protected",
                                                            replaced(prod, block, other_bucket))[0]


def test_trail_bucket_must_deny_non_tls(prod):
    bucket_policy = prod.one("aws:s3/bucketPolicy:BucketPolicy", "audit-bucket-policy")
    doc = document(bucket_policy)
    doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "DenyInsecureTransport"]
    broken = replaced(prod, bucket_policy, changed(bucket_policy, policy=json.dumps(doc)))
    assert stack_violations("cloudtrail-bucket-protected", broken) == [
        "cloudtrail Trail 'audit-trail' bucket 'cruddur-prod-trail-123456789012' policy does not deny non-TLS "
        "requests; add a Deny of s3:* when aws:SecureTransport is false"]
    assert "has no bucket policy in this stack" in stack_violations("cloudtrail-bucket-protected",
                                                                   replaced(prod, bucket_policy))[0]


def test_trail_bucket_never_force_destroyed_in_prod(prod):
    bucket = prod.one("aws:s3/bucket:Bucket", "audit-bucket")
    destroyable = replaced(prod, bucket, changed(bucket, forceDestroy=True))
    assert stack_violations("cloudtrail-bucket-retained", destroyable) == [
        "s3 Bucket 'audit-bucket' holds CloudTrail log files and has force_destroy on; set force_destroy=False "
        "(cruddur-db:trailBucketForceDestroy false)"]


def test_s3_public_access_blocked(dev):
    block = dev.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-bucket-public-access")
    assert resource_violations("s3-public-access-blocked", dev, changed(block, blockPublicPolicy=False)) == [
        "s3 BucketPublicAccessBlock 'audit-bucket-public-access' leaves blockPublicPolicy off; set all four "
        "public-access blocks to True"]


@pytest.mark.parametrize("edit", ["drop", "allow", "true"])
def test_s3_bucket_policy_denies_insecure_transport(dev, edit):
    bucket_policy = dev.one("aws:s3/bucketPolicy:BucketPolicy", "audit-bucket-policy")
    doc = document(bucket_policy)
    deny = next(s for s in doc["Statement"] if s["Sid"] == "DenyInsecureTransport")
    if edit == "drop":
        doc["Statement"].remove(deny)
    elif edit == "allow":
        deny["Effect"] = "Allow"
    else:
        deny["Condition"]["Bool"]["aws:SecureTransport"] = "true"
    assert resource_violations("s3-bucket-policy-denies-insecure-transport", dev,
                               changed(bucket_policy, policy=json.dumps(doc))) == [
        "s3 BucketPolicy 'audit-bucket-policy' does not deny non-TLS requests; add a Deny of s3:* on the bucket and "
        "its objects when aws:SecureTransport is false"]


LOGGING = "aws:s3/bucketLogging:BucketLogging"


def test_s3_buckets_have_access_logging_in_prod(prod):
    bucket_logging = prod.one(LOGGING, "audit-bucket-logging")
    trail_bucket = prod.one("aws:s3/bucket:Bucket", "audit-bucket")
    log_bucket = prod.one("aws:s3/bucket:Bucket", "audit-access-logs")
    assert bucket_logging.props["bucket"] == trail_bucket.props["bucket"]
    assert bucket_logging.props["targetBucket"] == log_bucket.props["bucket"]
    assert stack_violations("s3-bucket-access-logging", prod) == []  # the log destination itself is exempt
    fix = ("has no server access logging; declare an aws.s3.BucketLogging into the audit component's access-log "
           "bucket (PrivateBucketArgs.access_log_bucket)")
    unlogged = prod
    for logging in prod.of_type(LOGGING):  # and then the log bucket is no log destination either
        unlogged = replaced(unlogged, logging)
    assert sorted(stack_violations("s3-bucket-access-logging", unlogged)) == [
        f"s3 Bucket 'audit-access-logs' (cruddur-prod-trail-access-123456789012) {fix}",
        f"s3 Bucket 'audit-bucket' (cruddur-prod-trail-123456789012) {fix}",
        f"s3 Bucket 'code-signing-artifacts' (cruddur-prod-artifacts-123456789012) {fix}"]
    # logging that names another bucket does not count for this one
    elsewhere = replaced(prod, bucket_logging, changed(bucket_logging, bucket="someone-elses-bucket"))
    assert stack_violations("s3-bucket-access-logging", elsewhere) == [
        f"s3 Bucket 'audit-bucket' (cruddur-prod-trail-123456789012) {fix}"]


def test_s3_access_logging_new_bucket_and_legacy_forms(prod):
    bucket_logging = prod.one(LOGGING, "audit-bucket-logging")
    log_bucket = prod.one("aws:s3/bucket:Bucket", "audit-access-logs")
    extra = dataclasses.replace(changed(log_bucket, bucket="cruddur-prod-extra"), name="extra",
                                urn=log_bucket.urn.replace("audit-access-logs", "extra"))
    with_extra = dataclasses.replace(prod, resources=[*prod.resources, extra])
    assert stack_violations("s3-bucket-access-logging", with_extra) == [
        "s3 Bucket 'extra' (cruddur-prod-extra) has no server access logging; declare an aws.s3.BucketLogging into "
        "the audit component's access-log bucket (PrivateBucketArgs.access_log_bucket)"]
    target = log_bucket.props["bucket"]
    inline = dataclasses.replace(with_extra, resources=[
        changed(r, logging={"targetBucket": target, "targetPrefix": "extra/"}) if r is extra else r
        for r in with_extra.resources])
    assert stack_violations("s3-bucket-access-logging", inline) == []
    v2 = dataclasses.replace(changed(extra, loggings=[{"targetBucket": target}]), type="aws:s3/bucketV2:BucketV2")
    assert stack_violations("s3-bucket-access-logging", replaced(with_extra, extra, v2)) == []
    legacy_resource = dataclasses.replace(changed(bucket_logging, bucket="cruddur-prod-extra"),
                                          type="aws:s3/bucketLoggingV2:BucketLoggingV2", name="extra-logging",
                                          urn=bucket_logging.urn.replace("audit-bucket-logging", "extra-logging"))
    with_v2_logging = dataclasses.replace(with_extra, resources=[*with_extra.resources, legacy_resource])
    assert stack_violations("s3-bucket-access-logging", with_v2_logging) == []
    # on dev the same gap is advisory only
    assert policies.rule("s3-bucket-access-logging-dev").enforcement.value == "advisory"
    assert policies.rule("s3-bucket-access-logging").enforcement.value == "mandatory"


# -- GuardDuty ----------------------------------------------------------------------------------------------------
def test_guardduty_feature_must_be_enabled(prod):
    feature = prod.one("aws:guardduty/detectorFeature:DetectorFeature")
    disabled = replaced(prod, feature, changed(feature, status="DISABLED"))
    assert stack_violations("guardduty-rds-protection", disabled) == [
        "guardduty DetectorFeature 'audit-rds-protection' (RDS_LOGIN_EVENTS) is DISABLED; set status='ENABLED'"]


def test_guardduty_feature_must_exist(prod):
    feature = prod.one("aws:guardduty/detectorFeature:DetectorFeature")
    (message,) = stack_violations("guardduty-rds-protection", replaced(prod, feature))
    assert message.startswith("the stack enables no GuardDuty RDS Protection")
    other = changed(feature, name="S3_DATA_EVENTS")
    (message,) = stack_violations("guardduty-rds-protection", replaced(prod, feature, other))
    assert message.startswith("the stack enables no GuardDuty RDS Protection")


def test_guardduty_detector_must_be_enabled(prod):
    detector = prod.one("aws:guardduty/detector:Detector")
    assert stack_violations("guardduty-rds-protection", replaced(prod, detector, changed(detector, enable=False))) == [
        "guardduty Detector 'audit-detector' is disabled; set enable=True"]


def test_guardduty_adopted_detector_passes(evaluate_with):
    adopted = evaluate_with("prod", {"guardDutyDetectorId": "0123456789abcdef0123456789abcdef"})
    assert stack_violations("guardduty-rds-protection", adopted) == []


def test_guardduty_off_is_advisory_in_dev(evaluate_with):
    dev_off = evaluate_with("dev", {"guardDuty": False})
    assert stack_violations("guardduty-rds-protection", dev_off) == []
    (message,) = stack_violations("guardduty-rds-protection-dev", dev_off)
    assert message.startswith("the stack enables no GuardDuty RDS Protection")


# -- region -------------------------------------------------------------------------------------------------------
def test_region_allowed_on_the_provider(prod):
    provider = prod.one("pulumi:providers:aws")
    assert stack_violations("region-allowed", replaced(prod, provider, changed(provider, region="us-east-1"))) == [
        "aws provider 'aws-pinned' is in us-east-1, outside the allowed regions (eu-west-1, eu-central-1); data "
        "must stay in them"]
    assert stack_violations("region-allowed", replaced(prod, provider, changed(provider, region=REMOVE))) == [
        "aws provider 'aws-pinned' pins no region; set region (aws:region in the stack file) to one of eu-west-1, "
        "eu-central-1"]


def test_region_allowed_on_a_resource_region_override(prod):
    trail = prod.one("aws:cloudtrail/trail:Trail")
    (message,) = stack_violations("region-allowed", replaced(prod, trail, changed(trail, region="us-west-2")))
    assert message.startswith("cloudtrail Trail 'audit-trail' is in us-west-2, outside the allowed regions")


def test_region_allowed_list_is_the_policy_config(prod):
    assert stack_violations("region-allowed", prod, config={"allowedRegions": ["eu-central-1"]})
    assert stack_violations("region-allowed", prod, config={"allowedRegions": ["eu-west-1"]}) == []


# -- Lambda (real input shapes from a fixture program under the same mocks) --------------------------------------------
@pytest.fixture(scope="module")
def lambda_stack():
    return evaluate("synthetic", project_dir=Path(__file__).parent / "lambda_program")


def test_lambda_policies_pass_on_well_formed_resources(lambda_stack):
    assert violations("lambda-permission-source-arn", lambda_stack) == []
    assert violations("lambda-supported-runtime", lambda_stack) == []


def test_lambda_permission_needs_source_arn(lambda_stack):
    permission = lambda_stack.one("aws:lambda/permission:Permission")
    assert resource_violations("lambda-permission-source-arn", lambda_stack, changed(permission, sourceArn=REMOVE)) == [
        "lambda Permission 'cognito-invoke' lets cognito-idp.amazonaws.com invoke the function from any source; "
        "set source_arn to the one resource that may invoke it"]


@pytest.mark.parametrize("runtime", ["python3.8", "python3.9", "nodejs16.x", REMOVE])
def test_lambda_runtime_must_be_supported(lambda_stack, runtime):
    function = lambda_stack.one("aws:lambda/function:Function")
    (message,) = resource_violations("lambda-supported-runtime", lambda_stack, changed(function, runtime=runtime))
    assert message.startswith("lambda Function 'post-confirmation' runs ")
    assert "which is not a supported Lambda runtime; use one of python3.12, python3.13" in message


def test_lambda_runtime_list_is_configurable_and_images_need_none(lambda_stack):
    function = lambda_stack.one("aws:lambda/function:Function")
    assert resource_violations("lambda-supported-runtime", lambda_stack, function,
                               config={"supportedRuntimes": ["python3.12"]})
    image = changed(function, runtime=REMOVE, packageType="Image")
    assert resource_violations("lambda-supported-runtime", lambda_stack, image) == []


# -- Lambda code signing and environment encryption (on the stacks' real functions) -------------------------------
FUNCTION = "aws:lambda/function:Function"
CODE_SIGNING_CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"


@pytest.mark.parametrize("name", ["confirmation-function", "migrator-function", "master-rotation-function",
                                  "restore-drill-probe-function", "restore-drill-report-function"])
@pytest.mark.parametrize("arn", [REMOVE, ""])
def test_lambda_functions_need_a_code_signing_config(prod, name, arn):
    function = prod.one(FUNCTION, name)
    assert resource_violations("lambda-code-signing", prod, function) == []
    assert resource_violations("lambda-code-signing", prod, changed(function, codeSigningConfigArn=arn)) == [
        f"lambda Function '{name}' has no code signing config, so Lambda deploys unsigned code and layers; set "
        "code_signing_config_arn to the stack's (components/code_signing.py) and deploy the package from its signed "
        "copy (CodeSigning.sign)"]


def test_lambda_code_signing_is_not_asked_of_images(prod):
    image = changed(prod.one(FUNCTION, "confirmation-function"), codeSigningConfigArn=REMOVE, packageType="Image")
    assert resource_violations("lambda-code-signing", prod, image) == []


@pytest.mark.parametrize("policies_value, shown", [
    ({"untrustedArtifactOnDeployment": "Warn"}, "Warn"),
    (REMOVE, "Warn, the default"),
    ({}, "Warn, the default"),
])
def test_code_signing_configs_must_enforce(dev, policies_value, shown):
    config = dev.one(CODE_SIGNING_CONFIG)
    assert resource_violations("lambda-code-signing-enforced", dev, config) == []
    assert resource_violations("lambda-code-signing-enforced", dev, changed(config, policies=policies_value)) == [
        "lambda CodeSigningConfig 'code-signing-config' deploys unsigned or untrusted code with only a warning "
        f"(untrusted_artifact_on_deployment is {shown}); set policies.untrusted_artifact_on_deployment='Enforce'"]


@pytest.mark.parametrize("key, why", [
    (REMOVE, "kms_key_arn is unset"), ("", "kms_key_arn is unset"),
    ("arn:aws:kms:eu-west-1:123456789012:alias/aws/lambda", "kms_key_arn is alias/aws/lambda"),
])
def test_lambda_environments_need_a_customer_managed_key(prod, key, why):
    function = prod.one(FUNCTION, "restore-drill-report-function")
    assert resource_violations("lambda-environment-encrypted-with-cmk", prod, function) == []
    assert resource_violations("lambda-environment-encrypted-with-cmk", prod, changed(function, kmsKeyArn=key)) == [
        f"lambda Function 'restore-drill-report-function' encrypts its environment variables with the AWS-managed key ({why}); "
        "set kms_key_arn to the stack's customer-managed key"]


def test_a_function_without_environment_variables_needs_no_key(prod):
    bare = changed(prod.one(FUNCTION, "restore-drill-probe-function"), kmsKeyArn=REMOVE, environment=REMOVE)
    assert resource_violations("lambda-environment-encrypted-with-cmk", prod, bare) == []


# -- environment detection ----------------------------------------------------------------------------------------
def test_environment_comes_from_the_stack_name(dev, prod):
    assert policies.stack_environment(stack_args(dev)) == "dev"
    assert policies.stack_environment(stack_args(prod)) == "prod"
    assert policies.resource_environment(resource_args(dev, instance(dev))) == "dev"
    assert policies.resource_environment(resource_args(prod, instance(prod))) == "prod"


def test_a_resource_whose_urn_names_no_stack_is_judged_as_prod(dev):
    args = resource_args(dev, changed(instance(dev), deletionProtection=False))
    bare = ResourceValidationArgs(args.resource_type, args.props, "urn:x", args.name, args.opts, args.provider)
    assert policies.resource_environment(bare) == "prod"
    assert policies.rule("rds-deletion-protection").run(bare)


@pytest.mark.parametrize("tags", [{"tags": {"Environment": "dev"}}, '{"tags": {"Environment": "dev"}}'])
def test_provider_tags_never_make_a_stack_dev(tags):
    """A second provider's default tags (object or JSON) say dev; the stack's name (staging) says nothing: prod."""
    provider = PolicyProviderResource("pulumi:providers:aws", {"defaultTags": tags}, "urn:p", "second")
    args = ResourceValidationArgs(INSTANCE, {"deletionProtection": False},
                                  f"urn:pulumi:staging::cruddur-db::{INSTANCE}::x", "x", None, provider)
    assert policies.resource_environment(args) == "prod"
    assert policies.rule("rds-deletion-protection").run(args) == [
        "rds Instance 'x' has deletion protection off; set deletion_protection=True (cruddur-db:deletionProtection "
        "true)"]


# -- unknown values are never violations --------------------------------------------------------------------------
def _unknown_args(resource_type: str, props: dict, name: str = "r") -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props), f"urn:{name}", name, None, None)


@pytest.mark.parametrize("rule_name, resource_type, props", [
    ("rds-not-public", INSTANCE, {"publiclyAccessible": UNKNOWN_BOOLEAN_VALUE}),
    ("rds-encrypted-with-cmk", INSTANCE, {"storageEncrypted": UNKNOWN_BOOLEAN_VALUE,
                                          "kmsKeyId": UNKNOWN_STRING_VALUE}),
    ("rds-deletion-protection", INSTANCE, {"deletionProtection": UNKNOWN_BOOLEAN_VALUE}),
    ("rds-backup-retention", INSTANCE, {"backupRetentionPeriod": UNKNOWN_NUMBER_VALUE}),
    ("rds-iam-auth", INSTANCE, {"iamDatabaseAuthenticationEnabled": UNKNOWN_BOOLEAN_VALUE}),
    ("rds-log-exports", INSTANCE, {"enabledCloudwatchLogsExports": UNKNOWN_ARRAY_VALUE}),
    ("rds-no-default-admin-username", INSTANCE, {"username": UNKNOWN_STRING_VALUE}),
    ("sg-no-world-open-rules", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
     {"cidrIpv4": UNKNOWN_STRING_VALUE}),
    ("sg-no-world-open-rules", "aws:ec2/securityGroup:SecurityGroup",
     {"ingress": [{"cidrBlocks": UNKNOWN_ARRAY_VALUE}], "egress": UNKNOWN_ARRAY_VALUE}),
    ("secrets-encrypted-with-cmk", "aws:secretsmanager/secret:Secret", {"kmsKeyId": UNKNOWN_STRING_VALUE}),
    ("kms-rotation-enabled", "aws:kms/key:Key", {"enableKeyRotation": UNKNOWN_BOOLEAN_VALUE}),
    ("cloudtrail-hardened", "aws:cloudtrail/trail:Trail",
     {"isMultiRegionTrail": UNKNOWN_BOOLEAN_VALUE, "includeGlobalServiceEvents": UNKNOWN_BOOLEAN_VALUE,
      "enableLogFileValidation": UNKNOWN_BOOLEAN_VALUE, "kmsKeyId": UNKNOWN_STRING_VALUE,
      "snsTopicName": UNKNOWN_STRING_VALUE}),
    ("s3-public-access-blocked", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
     {"blockPublicAcls": UNKNOWN_BOOLEAN_VALUE, "blockPublicPolicy": UNKNOWN_BOOLEAN_VALUE,
      "ignorePublicAcls": UNKNOWN_BOOLEAN_VALUE, "restrictPublicBuckets": UNKNOWN_BOOLEAN_VALUE}),
    ("s3-bucket-policy-denies-insecure-transport", "aws:s3/bucketPolicy:BucketPolicy",
     {"policy": UNKNOWN_STRING_VALUE}),
    ("lambda-permission-source-arn", "aws:lambda/permission:Permission", {"sourceArn": UNKNOWN_STRING_VALUE}),
    ("lambda-supported-runtime", "aws:lambda/function:Function", {"runtime": UNKNOWN_STRING_VALUE}),
    ("lambda-code-signing", "aws:lambda/function:Function", {"codeSigningConfigArn": UNKNOWN_STRING_VALUE}),
    ("lambda-code-signing-enforced", "aws:lambda/codeSigningConfig:CodeSigningConfig",
     {"policies": UNKNOWN_OBJECT_VALUE}),
    ("lambda-code-signing-enforced", "aws:lambda/codeSigningConfig:CodeSigningConfig",
     {"policies": {"untrustedArtifactOnDeployment": UNKNOWN_STRING_VALUE}}),
    ("lambda-environment-encrypted-with-cmk", "aws:lambda/function:Function",
     {"environment": {"variables": {"A": "b"}}, "kmsKeyArn": UNKNOWN_STRING_VALUE}),
    ("lambda-environment-encrypted-with-cmk", "aws:lambda/function:Function",
     {"environment": UNKNOWN_OBJECT_VALUE}),
])
def test_unknown_resource_values_are_not_violations(rule_name, resource_type, props):
    assert policies.rule(rule_name).run(_unknown_args(resource_type, props)) == []


def _stack_of(evaluation, **unknown_props_by_name):
    """The engine's stack args for ``evaluation`` with some resources' outputs replaced (e.g. by unknown markers)."""
    resources = []
    for r in evaluation.resources:
        props = {**(r.outputs if r.custom else {}), **unknown_props_by_name.get(r.name.replace("-", "_"), {})}
        resources.append(PolicyResource(r.type, unknown_checking_proxy(props), r.urn, r.name, None, None, None,
                                        [], {}))
    return StackValidationArgs(resources)


@pytest.mark.parametrize("rule_name, unknowns", [
    ("rds-tls-enforced", {"db_instance": {"parameterGroupName": UNKNOWN_STRING_VALUE}}),
    ("rds-tls-enforced", {"db_params": {"name": UNKNOWN_STRING_VALUE, "parameters": UNKNOWN_ARRAY_VALUE}}),
    ("cloudtrail-bucket-protected", {"audit_trail": {"s3BucketName": UNKNOWN_STRING_VALUE},
                                     "audit_bucket_policy": {"policy": "{}"},
                                     "audit_bucket_public_access": {"blockPublicPolicy": False}}),
    ("cloudtrail-bucket-protected", {"audit_bucket_policy": {"bucket": UNKNOWN_STRING_VALUE, "policy": "{}"},
                                     "audit_bucket_public_access": {"bucket": UNKNOWN_STRING_VALUE,
                                                                    "blockPublicPolicy": False}}),
    ("guardduty-rds-protection", {"audit_rds_protection": {"status": UNKNOWN_STRING_VALUE,
                                                           "detectorId": UNKNOWN_STRING_VALUE}}),
    ("region-allowed", {"audit_trail": {"region": UNKNOWN_STRING_VALUE}}),
])
def test_unknown_stack_values_are_not_violations(prod, rule_name, unknowns):
    args = _stack_of(prod, **unknowns)
    assert policies.rule(rule_name).run(args) == []


def test_the_same_stack_values_known_and_wrong_are_violations(prod):
    """Control for the test above: the known-but-wrong counterpart is reported."""
    args = _stack_of(prod, audit_bucket_policy={"policy": "{}"},
                     audit_bucket_public_access={"blockPublicPolicy": False})
    assert len(policies.rule("cloudtrail-bucket-protected").run(args)) == 2


def test_plain_turns_engine_unknowns_into_unknown():
    proxy = unknown_checking_proxy({"a": UNKNOWN_STRING_VALUE, "b": [1, UNKNOWN_NUMBER_VALUE], "c": {"d": True}})
    assert policies.plain(proxy) == {"a": policies.UNKNOWN, "b": [1, policies.UNKNOWN], "c": {"d": True}}
