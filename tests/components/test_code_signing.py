"""Code signing, environment encryption and asynchronous failure destinations of every function, for both stacks.

Asserted on what the committed stacks declare under the shared mocks: one ``CodeSigning`` per stack (a Signer
profile, an enforced code signing config, a private artifacts bucket); every function and every layer created from
a signed copy in that bucket; every function carrying the config and its environment on the stack's data key; no
public layer anywhere; and a changed package reaching its function through a new upload, job and signed key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components import migrator as mig
from components.code_signing import PLATFORM, SIGNATURE_VALIDITY_MONTHS
from ops import paths
from ops.offline.aws_mocks import ACCOUNT_ID
from ops.offline.stack_eval import evaluate
from tests.components.conftest import policy
from tests.components.signing_support import JOB, UPLOAD, signing_job, upload_of
from tests.components.types import BUCKET, CONFIG, FUNCTION, INVOKE_CONFIG, LAYER, PROFILE, QUEUE

FUNCTIONS = {"confirmation-function", "migrator-function", "migrator-db-function", "master-rotation-function",
             "master-rotation-db-function", "app-rotation-function", "app-rotation-db-function",
             "restore-drill-probe-function", "restore-drill-report-function"}
LAYERS = {"layers-psycopg2", "layers-powertools", "layers-yoyo"}


@pytest.fixture(scope="module")
def dev():
    """dev with its restore drill switched on, so that every function of the program is judged here."""
    return evaluate("dev", overrides={"restoreDrill": True})


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request, dev):
    return dev if request.param == "dev" else request.getfixturevalue("prod")


def data_key_arn(stack) -> str:
    return stack.one("aws:kms/key:Key", "data-key").outputs["arn"]


def artifacts_bucket(stack) -> str:
    return f"cruddur-{stack.stack}-artifacts-{ACCOUNT_ID}"


# -- the signing set-up -----------------------------------------------------------------------------------------
def test_one_code_signing_per_stack_with_an_ecdsa_profile_and_an_enforcing_config(stack):
    component = stack.one("cruddur:code_signing:CodeSigning", "code-signing")
    profile = stack.one(PROFILE)
    assert stack.parent_of(profile).urn == component.urn
    assert profile.props["platformId"] == PLATFORM == "AWSLambda-SHA384-ECDSA"
    assert profile.props["name"] == f"cruddur_{stack.stack}"
    assert profile.props["signatureValidityPeriod"] == {"value": SIGNATURE_VALIDITY_MONTHS, "type": "MONTHS"}
    config = stack.one(CONFIG)
    assert config.props["allowedPublishers"] == {"signingProfileVersionArns": [profile.outputs["versionArn"]]}
    assert config.props["policies"] == {"untrustedArtifactOnDeployment": "Enforce"}


def test_artifacts_bucket_is_private_versioned_on_the_data_key_and_logs_to_the_audit_log_bucket(stack):
    bucket = stack.one(BUCKET, "code-signing-artifacts")
    assert bucket.props["bucket"] == artifacts_bucket(stack)
    assert stack.one("aws:s3/bucketVersioning:BucketVersioning", "code-signing-artifacts-versioning").props[
        "versioningConfiguration"] == {"status": "Enabled"}
    encryption = stack.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                           "code-signing-artifacts-encryption").props
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": data_key_arn(stack)}
    block = stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "code-signing-artifacts-public-access")
    assert all(block.props[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                        "restrictPublicBuckets"))
    statements = {s["Sid"]: s for s in policy(stack.one("aws:s3/bucketPolicy:BucketPolicy",
                                                        "code-signing-artifacts-policy"))["Statement"]}
    assert set(statements) == {"DenyInsecureTransport"}
    logging = stack.one("aws:s3/bucketLogging:BucketLogging", "code-signing-artifacts-access-logging").props
    assert logging == {"bucket": artifacts_bucket(stack),
                       "targetBucket": f"cruddur-{stack.stack}-trail-access-{ACCOUNT_ID}",
                       "targetPrefix": "artifacts-bucket/"}


def test_without_the_trail_the_artifacts_bucket_has_no_log_destination(evaluate_with):
    stack = evaluate_with("dev", overrides={"auditTrail": False})
    assert stack.of_type("aws:s3/bucketLogging:BucketLogging") == []
    assert stack.one(BUCKET, "code-signing-artifacts").props["bucket"] == artifacts_bucket(stack)


def test_every_upload_is_signed_by_the_stacks_profile_into_the_artifacts_bucket(stack):
    profile = stack.one(PROFILE)
    uploads, jobs = stack.of_type(UPLOAD), stack.of_type(JOB)
    parts = sorted(u.props["key"] for u in uploads)
    assert parts == sorted(f"unsigned/{p}.zip" for p in ("confirmation", "psycopg2", "powertools", "migrator",
                                                         "yoyo", "rotate-master", "rotate-app", "restore-check"))
    versioning = stack.one("aws:s3/bucketVersioning:BucketVersioning", "code-signing-artifacts-versioning")
    for upload in uploads:
        assert upload.props["bucket"] == artifacts_bucket(stack)
        assert versioning.urn in upload.dependencies  # a version id from the first upload on
    assert len(jobs) == len(uploads)
    for job in jobs:
        assert job.props["profileName"] == profile.outputs["name"]
        assert job.props["ignoreSigningJobFailure"] is False
        assert upload_of(stack, job).props["key"].startswith("unsigned/")
        part = job.name.removeprefix("code-signing-").removesuffix("-signing")
        assert job.props["destination"] == {"s3": {"bucket": artifacts_bucket(stack), "prefix": f"signed/{part}/"}}


# -- functions and layers ---------------------------------------------------------------------------------------
def test_every_function_is_created_from_its_signed_copy_and_carries_the_config(stack):
    functions = stack.of_type(FUNCTION)
    assert {f.name for f in functions} == FUNCTIONS
    config_arn = stack.one(CONFIG).outputs["arn"]
    for function in functions:
        props = function.props
        assert props["codeSigningConfigArn"] == config_arn, function.name
        assert "code" not in props and "imageUri" not in props, function.name  # nothing uploaded unsigned
        assert props["s3Bucket"] == artifacts_bucket(stack), function.name
        job = signing_job(stack, function)
        assert props["s3Key"].startswith(job.props["destination"]["s3"]["prefix"]), function.name


def test_every_layer_is_created_from_its_signed_copy(stack):
    layers = stack.of_type(LAYER)
    assert {layer.name for layer in layers} == LAYERS
    for layer in layers:
        assert "code" not in layer.props, layer.name
        assert layer.props["s3Bucket"] == artifacts_bucket(stack), layer.name
        assert upload_of(stack, signing_job(stack, layer)).props["key"].startswith("unsigned/")


def test_no_public_layer_anywhere(stack):
    declared = {layer.outputs["arn"] for layer in stack.of_type(LAYER)}
    for function in stack.of_type(FUNCTION):
        assert set(function.props.get("layers") or []) <= declared, function.name
    everything = json.dumps([r.props for r in stack.resources], default=str)
    assert "017000801446" not in everything  # the account that publishes AWS's public Powertools layers
    assert "AWSLambdaPowertools" not in everything


def test_every_function_encrypts_its_environment_with_the_stacks_data_key(stack):
    for function in stack.of_type(FUNCTION):
        assert function.props.get("environment", {}).get("variables"), function.name
        assert function.props["kmsKeyArn"] == data_key_arn(stack), function.name


# -- a changed package reaches its function --------------------------------------------------------------------
def test_a_changed_package_means_a_new_upload_job_and_key_and_an_unchanged_one_nothing(
        evaluate_with, monkeypatch, tmp_path):
    def evaluated(folder: Path):
        monkeypatch.setattr(mig, "MIGRATIONS_DIR", folder)  # the migrator's package ships the migrations
        stack = evaluate_with("dev")
        function = stack.one(FUNCTION, "migrator-function")
        job = signing_job(stack, function)
        return (upload_of(stack, job).outputs["versionId"], job.id, function.props["s3Key"],
                stack.one(FUNCTION, "confirmation-function").props["s3Key"])

    committed = evaluated(Path(paths.MIGRATIONS_DIR))
    same = tmp_path / "same"
    shutil.copytree(paths.MIGRATIONS_DIR, same)
    changed = tmp_path / "changed"
    shutil.copytree(paths.MIGRATIONS_DIR, changed)
    (changed / "0099_more.sql").write_text("-- depends: 0002_roles\nselect 1;\n")
    assert evaluated(same) == committed  # same bytes elsewhere on disk: same version, job, key
    after = evaluated(changed)
    assert [a != b for a, b in zip(after, committed, strict=True)] == [True, True, True, False]
    assert after[2].startswith("signed/migrator/")


# -- where failed asynchronous invocations go --------------------------------------------------------------------
def test_the_restore_report_sends_failed_async_events_to_the_alarm_topic(stack):
    configs = stack.of_type(INVOKE_CONFIG)
    assert [c.name for c in configs] == ["restore-drill-report-async"]  # the only asynchronously invoked function
    props = configs[0].props
    assert props["functionName"] == stack.one(FUNCTION, "restore-drill-report-function").outputs["name"]
    assert props["destinationConfig"] == {"onFailure": {"destination": stack.outputs["alarmTopicArn"]}}
    assert props["maximumRetryAttempts"] == 2
    assert 0 < props["maximumEventAgeInSeconds"] <= 4 * 3600  # inside the restore test's validation window
    assert stack.one("aws:iam/rolePolicy:RolePolicy", "restore-drill-report-policy").urn in configs[0].dependencies


def test_without_alarms_failed_async_events_go_to_an_encrypted_queue(evaluate_with):
    stack = evaluate_with("dev", overrides={"alarms": False, "restoreDrill": True})
    queue = stack.one(QUEUE, "restore-drill-report-failures")
    assert queue.props["kmsMasterKeyId"] == data_key_arn(stack)
    assert queue.props["messageRetentionSeconds"] == 14 * 24 * 3600
    config = stack.one(INVOKE_CONFIG, "restore-drill-report-async")
    assert config.props["destinationConfig"] == {"onFailure": {"destination": queue.outputs["arn"]}}
    found = {s["Sid"]: s for s in policy(stack.one("aws:iam/rolePolicy:RolePolicy",
                                                   "restore-drill-report-policy"))["Statement"]}
    assert (found["SendFailedEvents"]["Action"], found["SendFailedEvents"]["Resource"]) == (
        "sqs:SendMessage", queue.outputs["arn"])
    assert found["EncryptForTheQueue"]["Resource"] == data_key_arn(stack)
    assert found["EncryptForTheQueue"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}


def test_the_synchronous_functions_say_why_they_declare_no_destination():
    """Cognito (RequestResponse), the migrator's aws.lambda_.Invocation, Secrets Manager rotation and the probe
    (invoked RequestResponse by the report) are synchronous only; each component says so next to the function."""
    root = Path(paths.PROJECT_ROOT) / "components"
    for module in ("confirmation.py", "migrator.py", "master_rotation.py", "restore_drill.py"):
        assert "Synchronous only" in (root / module).read_text(), module


# -- rotating the profile ---------------------------------------------------------------------------------------
def test_a_new_profile_generation_renames_the_profile_and_re_signs_everything(evaluate_with, monkeypatch):
    from components import code_signing

    before = evaluate_with("dev")
    monkeypatch.setattr(code_signing, "PROFILE_GENERATION", 2)
    after = evaluate_with("dev")
    assert after.one(PROFILE).props["name"] == "cruddur_dev_g2"
    assert after.one(CONFIG).props["allowedPublishers"] == {
        "signingProfileVersionArns": [after.one(PROFILE).outputs["versionArn"]]}
    for job in after.of_type(JOB):
        assert job.props["profileName"] == "cruddur_dev_g2"
    keys = {f.name: f.props["s3Key"] for f in before.of_type(FUNCTION)}
    assert all(f.props["s3Key"] != keys[f.name] for f in after.of_type(FUNCTION))  # every function redeployed
    assert {u.outputs["versionId"] for u in after.of_type(UPLOAD)} == {
        u.outputs["versionId"] for u in before.of_type(UPLOAD)}  # the same uploads, signed again


def test_profile_names_fit_signers_rules():
    from components.code_signing import profile_name
    from components.naming import Naming

    long = Naming(stack="x" * 80, is_prod=False)
    assert profile_name(long, 1) == "cruddur_" + "x" * 56
    assert profile_name(long, 12) == "cruddur_" + "x" * 52 + "_g12"
    assert profile_name(Naming(stack="eu-prod", is_prod=True), 1) == "cruddur_eu_prod"
