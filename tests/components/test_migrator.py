"""``Migrator`` under mocks, for both committed stacks: its two functions (the migrator outside the VPC, the database
function inside it), their package, roles and network path, and the invocation ``pulumi up`` runs (and re-runs only
when the migrations change)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from components import migrator as mig
from components.confirmation import PackagingError
from components.lambda_shared import SharedModuleMissing
from ops import paths
from tests.components.signing_support import signed_source
from tests.components.types import (
    ATTACHMENT,
    EGRESS,
    ENDPOINT,
    FUNCTION,
    INGRESS,
    INVOCATION,
    LAYER,
    LOG_GROUP,
    RETENTION,
    ROLE,
    ROLE_POLICY,
    SECRET,
    SG,
    VERSION,
)

REPO_MIGRATIONS = Path(paths.MIGRATIONS_DIR)


def key_arn(stack) -> str:
    return stack.one("aws:kms/key:Key", "data-key").outputs["arn"]


def rules_on(stack, typ: str, group_id: str) -> list:
    return [r for r in stack.of_type(typ) if r.props["securityGroupId"] == group_id]


def port_rule(rule) -> tuple:
    p = rule.props
    return p["referencedSecurityGroupId"], p["ipProtocol"], p["fromPort"], p["toPort"]


# -- the component ---------------------------------------------------------------------------------------------
def test_children_of_the_components(stack):
    migrator = stack.one("cruddur:migrator:Migrator", "migrator")
    assert {(r.type, r.name) for r in stack.children_of(migrator)} == {
        ("cruddur:function:Function", "migrator"), ("cruddur:function:Function", "migrator-db"),
        (INVOCATION, "migrator-run")}
    function = stack.one("cruddur:function:Function", "migrator")
    assert {(r.type, r.name) for r in stack.children_of(function)} == {
        (ROLE, "migrator-role"), (ATTACHMENT, "migrator-basic"), (ROLE_POLICY, "migrator-policy"),
        (LOG_GROUP, "migrator-logs"), (FUNCTION, "migrator-function"),
    }
    db_function = stack.one("cruddur:function:Function", "migrator-db")
    assert {(r.type, r.name) for r in stack.children_of(db_function)} == {
        (SG, "migrator-db-sg"), (ROLE, "migrator-db-role"), (ATTACHMENT, "migrator-db-vpc-access"),
        (LOG_GROUP, "migrator-db-logs"), (FUNCTION, "migrator-db-function"),
    }
    assert stack.of_type(ENDPOINT) == [] and "secretsEndpointId" not in stack.outputs  # no endpoint is needed


# -- the functions -------------------------------------------------------------------------------------------------
def test_function_runtime_timeout_tracing_publishing_and_key(stack):
    function = stack.one(FUNCTION, "migrator-function").props
    assert function["name"] == f"cruddur-{stack.stack}-migrator" == stack.outputs["migratorFunctionName"]
    assert function["runtime"] == "python3.13" and function["architectures"] == ["arm64"]
    assert function["handler"] == "handler.handler"
    assert function["timeout"] == 360 and function["memorySize"] == 256
    assert function["publish"] is True
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["kmsKeyArn"] == key_arn(stack)  # the environment is encrypted with the stack's key
    assert function["role"] == stack.one(ROLE, "migrator-role").outputs["arn"]
    assert "vpcConfig" not in function  # outside the VPC: Secrets Manager and Lambda on AWS's network
    db_function = stack.one(FUNCTION, "migrator-db-function").props
    assert db_function["name"] == f"cruddur-{stack.stack}-migrator-db"
    assert db_function["handler"] == "handler.db_handler"
    # the migrator waits for its database function: it must outlive it
    assert db_function["timeout"] == 300 < function["timeout"] and db_function["publish"] is True
    assert db_function["kmsKeyArn"] == key_arn(stack) and "tracingConfig" not in db_function


def test_function_layers_are_psycopg2_yoyo_and_powertools(stack):
    psycopg2, yoyo, powertools = (stack.one(LAYER, f"layers-{n}").outputs["arn"]
                                  for n in ("psycopg2", "yoyo", "powertools"))
    # the database side migrates (yoyo); the migrator only loads it (psycopg2) and logs (Powertools)
    assert stack.one(FUNCTION, "migrator-db-function").props["layers"] == [psycopg2, yoyo, powertools]
    assert stack.one(FUNCTION, "migrator-function").props["layers"] == [psycopg2, powertools]
    yoyo_layer = stack.one(LAYER, "layers-yoyo").props
    assert yoyo_layer["layerName"] == f"cruddur-{stack.stack}-yoyo"
    assert yoyo_layer["compatibleRuntimes"] == ["python3.13"] and yoyo_layer["compatibleArchitectures"] == ["arm64"]


def test_package_is_the_handler_the_ca_bundle_and_every_migration(stack):
    code = signed_source(stack, stack.one(FUNCTION, "migrator-function"))
    assert signed_source(stack, stack.one(FUNCTION, "migrator-db-function")) is code  # one package, both functions
    sql = sorted(p.name for p in REPO_MIGRATIONS.glob("*.sql"))
    assert sql[:2] == ["0001_schema.sql", "0002_roles.sql"]
    expected = {"handler.py": mig.FUNCTION_SOURCE / "handler.py",
                "db.py": mig.FUNCTION_SOURCE / "db.py", "common.py": mig.FUNCTION_SOURCE / "common.py",
                # the login through a rotation: ONE source file, the restore drill's package carries the same one
                "master_login.py": mig.PROJECT_DIR / "lambda" / "shared" / "master_login.py",
                # each migration in one transaction with its yoyo records: the file `cruddur db migrate` loads too
                "yoyo_one_transaction.py": mig.PROJECT_DIR / "lambda" / "shared" / "yoyo_one_transaction.py",
                "global-bundle.pem": mig.PROJECT_DIR / "lambda" / "post_confirmation" / "global-bundle.pem"}
    expected.update({f"migrations/{name}": REPO_MIGRATIONS / name for name in sql})
    assert {name: Path(asset.path) for name, asset in code.assets.items()} == expected
    assert mig.MIGRATIONS_DIR == REPO_MIGRATIONS  # the same set `cruddur db migrate` applies


def test_environment_names_secrets_and_database_but_holds_no_secret(stack):
    db_function = stack.one(FUNCTION, "migrator-db-function")
    variables = stack.one(FUNCTION, "migrator-function").props["environment"]["variables"]
    assert variables == {
        "MASTER_SECRET_ARN": stack.one(SECRET, "db-master-secret").outputs["arn"],
        "APP_SECRET_ARN": stack.one(SECRET, "app-secret").outputs["arn"],
        "DB_FUNCTION_NAME": db_function.outputs["qualifiedArn"],  # the published version, as the run's package
        "APP_ROLE": "cruddur_app",
        "POWERTOOLS_SERVICE_NAME": "cruddur-migrator",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    db_variables = db_function.props["environment"]["variables"]
    assert db_variables == {
        "DB_HOST": stack.one("aws:rds/instance:Instance").outputs["address"],
        "DB_PORT": "5432",
        "DB_NAME": "cruddur",
        "APP_ROLE": "cruddur_app",
        "POWERTOOLS_SERVICE_NAME": "cruddur-migrator-db",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    assert all("postgresql://" not in value for value in [*variables.values(), *db_variables.values()])


def test_logs_go_to_an_encrypted_group_with_the_stacks_retention(stack):
    for part, name in (("migrator", "migrator"), ("migrator-db", "migrator-db")):
        group = stack.one(LOG_GROUP, f"{part}-logs").props
        assert group == {"name": f"/aws/lambda/cruddur-{stack.stack}-{name}",
                         "retentionInDays": RETENTION[stack.stack], "kmsKeyId": key_arn(stack)}
        logging = stack.one(FUNCTION, f"{part}-function").props["loggingConfig"]
        assert logging == {"logFormat": "JSON", "logGroup": group["name"], "applicationLogLevel": "INFO",
                           "systemLogLevel": "WARN"}


# -- network: the database function in the private subnets, paired to the database only --------------------------
def test_function_runs_in_the_private_subnets_with_its_own_security_group(stack):
    vpc_config = stack.one(FUNCTION, "migrator-db-function").props["vpcConfig"]
    assert sorted(vpc_config["subnetIds"]) == sorted(s.id for s in stack.of_type("aws:ec2/subnet:Subnet"))
    assert vpc_config["securityGroupIds"] == [stack.one(SG, "migrator-db-sg").id]


def test_security_group_reaches_the_database_only(stack):
    own, db = (stack.one(SG, n) for n in ("migrator-db-sg", "db-sg"))
    assert not own.props.get("ingress") and not own.props.get("egress")
    assert rules_on(stack, INGRESS, own.id) == []
    assert [port_rule(r) for r in rules_on(stack, EGRESS, own.id)] == [(db.id, "tcp", 5432, 5432)]
    admitted = [r for r in rules_on(stack, INGRESS, db.id) if r.props["referencedSecurityGroupId"] == own.id]
    assert [(r.name, port_rule(r)) for r in admitted] == [("db-in-from-migrator", (own.id, "tcp", 5432, 5432))]


# -- identity: exactly what each needs ----------------------------------------------------------------------------
def test_role_is_assumed_by_lambda_only(stack):
    for role_name, physical in (("migrator-role", "migrator"), ("migrator-db-role", "migrator-db")):
        trust = json.loads(stack.one(ROLE, role_name).props["assumeRolePolicy"])
        assert trust["Statement"] == [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"Service": "lambda.amazonaws.com"}}]
        assert stack.one(ROLE, role_name).props["name"] == f"cruddur-{stack.stack}-{physical}"


def test_role_can_do_nothing_but_what_it_needs(stack):
    role = stack.one(ROLE, "migrator-role")
    attachments = [a for a in stack.of_type(ATTACHMENT) if a.props["role"] == role.outputs["name"]]
    assert [a.props["policyArn"] for a in attachments] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    policies = [p for p in stack.of_type(ROLE_POLICY) if p.props["role"] == role.id]
    assert [p.name for p in policies] == ["migrator-policy"]
    assert json.loads(policies[0].props["policy"])["Statement"] == [
        {"Sid": "ReadTheMasterAndAppSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": [stack.one(SECRET, "db-master-secret").outputs["arn"],
                      stack.one(SECRET, "app-secret").outputs["arn"]]},
        {"Sid": "DecryptSecretsThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
         "Resource": key_arn(stack),
         "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}}},
        {"Sid": "InvokeTheDatabaseFunction", "Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": stack.one(FUNCTION, "migrator-db-function").outputs["qualifiedArn"]},
        {"Sid": "XRayTracing", "Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
         "Resource": "*"},
    ]
    # the database function calls no AWS API: network interfaces and logs, nothing else
    db_role = stack.one(ROLE, "migrator-db-role")
    assert [a.props["policyArn"] for a in stack.of_type(ATTACHMENT) if a.props["role"] == db_role.outputs["name"]] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]
    assert [p for p in stack.of_type(ROLE_POLICY) if p.props["role"] == db_role.id] == []


# -- the invocation ----------------------------------------------------------------------------------------------
def test_invocation_runs_the_published_version_with_the_event_contract(stack):
    run = stack.one(INVOCATION, "migrator-run")
    function = stack.one(FUNCTION, "migrator-function")
    app_version = stack.one(VERSION, "app-secret-value").outputs["versionId"]
    digest = mig.migrations_sha256(REPO_MIGRATIONS)
    assert run.props["functionName"] == function.outputs["name"]
    assert run.props["qualifier"] == function.outputs["version"] == "1"
    assert json.loads(run.props["input"]) == {"migrations_sha256": digest, "app_secret_version": app_version}
    assert run.props["triggers"] == {"migrations_sha256": digest, "function_version": "1",
                                     "db_function_version": "1", "app_secret_version": app_version,
                                     "db_resource_id": stack.one("aws:rds/instance:Instance").outputs["resourceId"]}
    assert "lifecycleScope" not in run.props  # CREATE_ONLY: invoked on create or replace (a trigger change)
    assert run.additional_secret_outputs == ["result"]  # whatever the handler returns stays secret in state
    assert stack.outputs["migrationsSha256"] == digest


def test_invocation_waits_for_the_database_the_secrets_and_the_network_path(stack):
    run = stack.one(INVOCATION, "migrator-run")
    needed = [stack.one("aws:rds/instance:Instance"), stack.one(VERSION, "db-master-secret-value"),
              stack.one(VERSION, "app-secret-value"), stack.one(INGRESS, "db-in-from-migrator"),
              stack.one(FUNCTION, "migrator-db-function")]
    missing = [r.name for r in needed if r.urn not in run.dependencies]
    assert missing == []


def test_the_event_holds_no_password(stack):
    run = stack.one(INVOCATION, "migrator-run")
    for name in ("db-master-password", "app-password"):
        password = stack.one("random:index/randomPassword:RandomPassword", name).outputs["result"]
        assert password not in json.dumps(run.props)


# -- the migrations' hash: what decides whether `pulumi up` migrates ---------------------------------------------
def copy_migrations(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(REPO_MIGRATIONS, target)
    return target


def test_hash_is_sha256_over_sorted_name_nul_content_nul(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0002_b.sql").write_bytes(b"select 2;\n")
    (folder / "0001_a.sql").write_bytes(b"select 1;\n")
    (folder / "README.md").write_text("not a migration")
    expected = hashlib.sha256(b"0001_a.sql\0select 1;\n\0" b"0002_b.sql\0select 2;\n\0").hexdigest()
    assert mig.migrations_sha256(folder) == expected


def test_hash_changes_exactly_when_the_migration_set_does(tmp_path):
    base = copy_migrations(tmp_path, "base")
    digest = mig.migrations_sha256(base)
    assert mig.migrations_sha256(REPO_MIGRATIONS) == digest  # same files elsewhere: same hash
    (base / "notes.txt").write_text("ignored")
    (base / "0001_schema.sql").touch()  # a newer mtime changes nothing
    assert mig.migrations_sha256(base) == digest

    edited = copy_migrations(tmp_path, "edited")
    (edited / "0001_schema.sql").write_bytes((edited / "0001_schema.sql").read_bytes() + b"-- changed\n")
    added = copy_migrations(tmp_path, "added")
    (added / "0099_more.sql").write_text("-- depends: 0002_roles\nselect 1;\n")
    renamed = copy_migrations(tmp_path, "renamed")
    (renamed / "0002_roles.sql").rename(renamed / "0003_roles.sql")
    removed = copy_migrations(tmp_path, "removed")
    sorted(removed.glob("*.sql"))[-1].unlink()
    digests = {digest} | {mig.migrations_sha256(d) for d in (edited, added, renamed, removed)}
    assert len(digests) == 5


def test_triggers_change_only_when_the_migrations_change(evaluate_with, monkeypatch, tmp_path):
    def triggers(folder: Path) -> dict:
        monkeypatch.setattr(mig, "MIGRATIONS_DIR", folder)
        return evaluate_with("dev").one(INVOCATION, "migrator-run").props["triggers"]

    committed = triggers(REPO_MIGRATIONS)
    same = triggers(copy_migrations(tmp_path, "same"))
    changed_dir = copy_migrations(tmp_path, "changed")
    (changed_dir / "0099_more.sql").write_text("-- depends: 0002_roles\nselect 1;\n")
    changed = triggers(changed_dir)
    assert same == committed  # an unchanged migration set: no replacement, so no invocation
    # (on AWS the published version moves too, since the package holds the migrations; the mocks keep "1")
    assert {k for k in committed if committed[k] != changed[k]} == {"migrations_sha256"}
    assert changed["migrations_sha256"] == mig.migrations_sha256(changed_dir)


# -- packaging errors --------------------------------------------------------------------------------------------
def test_package_errors_name_what_is_missing(tmp_path):
    bundle = mig.CA_BUNDLE_SOURCE
    with pytest.raises(PackagingError, match=r"handler\.py is missing: the migrator's package needs it"):
        mig.migrator_archive(tmp_path, bundle, REPO_MIGRATIONS)
    (tmp_path / "handler.py").write_text("def handler(e, c): pass\n")
    with pytest.raises(PackagingError, match=r"db\.py is missing: the migrator's package needs it \(both functions"):
        mig.migrator_archive(tmp_path, bundle, REPO_MIGRATIONS)
    (tmp_path / "db.py").write_text("def db_handler(e, c): pass\n")
    (tmp_path / "common.py").write_text("")
    with pytest.raises(PackagingError, match=r"nope\.pem is missing: the migrator verifies the database's TLS"):
        mig.migrator_archive(tmp_path, tmp_path / "nope.pem", REPO_MIGRATIONS)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PackagingError, match=r"no migrations \(\*\.sql\) in .*empty: the migrator has nothing to apply"):
        mig.migrator_archive(tmp_path, bundle, empty)
    with pytest.raises(SharedModuleMissing, match=rf"^{tmp_path / 'master_login.py'} is missing: the functions that "
                                                 "connect as the master"):
        mig.migrator_archive(tmp_path, bundle, REPO_MIGRATIONS, shared_dir=tmp_path)
    shutil.copy(mig.PROJECT_DIR / "lambda" / "shared" / "master_login.py", tmp_path)
    with pytest.raises(SharedModuleMissing, match=rf"^{tmp_path / 'yoyo_one_transaction.py'} is missing: the "
                                                 "migrator carries it beside its handler"):
        mig.migrator_archive(tmp_path, bundle, REPO_MIGRATIONS, shared_dir=tmp_path)


def test_the_component_and_the_handler_hash_the_migrations_the_same_way(tmp_path):
    """The invocation's event carries the component's hash; the handler refuses a package whose own hash differs."""
    from components.migrator import migrations_sha256 as component_hash
    from tests.migrator_support import load_migrator_module

    handler_hash = load_migrator_module().migrations_sha256
    assert component_hash(paths.MIGRATIONS_DIR) == handler_hash(paths.MIGRATIONS_DIR)
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    assert component_hash(tmp_path) == handler_hash(tmp_path) != component_hash(paths.MIGRATIONS_DIR)
