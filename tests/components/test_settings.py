"""Settings: the committed stacks are valid, and every validation rule rejects bad config with a clear message."""

import dataclasses
import json
import re
import shutil

import pytest
import yaml

from components import settings
from components.settings import ConfigError
from components.stack_names import is_dev_stack_name, is_production_stack_name
from ops.offline.stack_eval import evaluate
from ops.paths import PROJECT_ROOT as PROJECT_DIR


def test_committed_stacks_evaluate_without_settings_problems(dev, prod):
    assert dev.config["cruddur-db:environment"] == "dev"
    assert prod.config["cruddur-db:environment"] == "prod"
    # Both pin their region in their own stack file (not inherited from a default).
    assert dev.config["aws:region"] == prod.config["aws:region"] == "eu-west-1"
    assert dev.resources and prod.resources


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# -- data residency -------------------------------------------------------------------------------------------
def test_missing_region_is_an_error_never_a_default(config_problems):
    message = only(config_problems("dev", aws__region=None))
    assert message.startswith("aws:region is not set")
    assert "pulumi config set aws:region" in message


def test_region_outside_allowed_regions_is_rejected(config_problems):
    message = only(config_problems("prod", aws__region="us-east-1"))
    assert message == ("aws:region = 'us-east-1': not in cruddur-db:allowedRegions (eu-west-1, eu-central-1); "
                       "data must stay in the allowed regions")


def test_allowed_regions_must_be_real_and_non_empty(config_problems):
    assert only(config_problems("dev", allowedRegions=[])) == (
        "cruddur-db:allowedRegions = []: must name at least one region (data residency)")
    assert only(config_problems("dev", allowedRegions=["eu-west-1", "Europe"])) == (
        "cruddur-db:allowedRegions = 'Europe': is not an AWS region name (e.g. eu-west-1)")
    assert only(config_problems("dev", allowedRegions="eu-west-1")) == (
        "cruddur-db:allowedRegions = 'eu-west-1': must be a list of strings, e.g. [\"a\", \"b\"]")


def test_another_allowed_region_is_accepted(evaluate_with):
    evaluation = evaluate_with("dev", overrides={"aws:region": "eu-central-1"})
    provider = evaluation.one("pulumi:providers:aws", "aws-pinned")
    assert provider.props["region"] == "eu-central-1"


# -- environment ----------------------------------------------------------------------------------------------
def test_environment_must_be_dev_or_prod(config_problems):
    assert "cruddur-db:environment = 'staging': must be one of dev, prod" in config_problems("dev", environment="staging")


def test_a_prod_stack_cannot_call_itself_dev(config_problems):
    message = only(config_problems("prod", environment="dev"))
    assert message == ("cruddur-db:environment = 'dev': stack 'prod' is a production stack by name; "
                       "its environment must be prod")


# -- engine, class, storage -----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["15", "17.2", "latest"])
def test_engine_version_must_be_a_supported_major(config_problems, version):
    assert only(config_problems("dev", engineVersion=version)) == (
        f"cruddur-db:engineVersion = '{version}': must be a supported RDS PostgreSQL major version: 16, 17")


@pytest.mark.parametrize("klass", ["t4g.micro", "db.", "DB.T4G.MICRO", "db.t4g"])
def test_instance_class_must_be_an_rds_class(config_problems, klass):
    assert only(config_problems("dev", instanceClass=klass)) == (
        f"cruddur-db:instanceClass = '{klass}': must be an RDS instance class such as db.t4g.micro or db.m7g.large")


def test_storage_sizes(config_problems):
    assert only(config_problems("dev", allocatedStorageGb=10)) == "cruddur-db:allocatedStorageGb = 10: must be from 20 to 65536"
    assert only(config_problems("dev", allocatedStorageGb="lots")) == (
        "cruddur-db:allocatedStorageGb = 'lots': must be a whole number from 20 to 65536")
    assert only(config_problems("dev", allocatedStorageGb=60, maxAllocatedStorageGb=60)) == (
        "cruddur-db:maxAllocatedStorageGb = 60: must be above allocatedStorageGb (60) so storage can autoscale")


def test_backup_retention_bounds(config_problems):
    assert only(config_problems("dev", backupRetentionDays=0)) == "cruddur-db:backupRetentionDays = 0: must be from 1 to 35"
    assert only(config_problems("dev", backupRetentionDays=36)) == "cruddur-db:backupRetentionDays = 36: must be from 1 to 35"


def test_monitoring_interval_and_log_retention_values(config_problems):
    assert only(config_problems("dev", monitoringIntervalSeconds=7)) == (
        "cruddur-db:monitoringIntervalSeconds = 7: must be one of 0, 1, 5, 10, 15, 30, 60")
    assert only(config_problems("dev", logRetentionDays=100)).startswith(
        "cruddur-db:logRetentionDays = 100: must be a CloudWatch Logs retention value: 1, 3, 5, 7, 14, 30")


@pytest.mark.parametrize("name", ["postgres", "root", "admin", "rdsadmin"])
def test_default_admin_usernames_are_rejected(config_problems, name):
    assert only(config_problems("dev", masterUsername=name)) == (
        f"cruddur-db:masterUsername = '{name}': is a default admin name attackers try first; "
        "use another, e.g. cruddur_admin")


def test_booleans_must_be_true_or_false(config_problems):
    assert only(config_problems("dev", multiAz="yes")) == "cruddur-db:multiAz = 'yes': must be true or false"


def test_a_declared_key_that_is_missing_is_named(config_problems):
    message = only(config_problems("dev", dbName=None))
    assert message.startswith("cruddur-db:dbName is not set; it is declared with a default in Pulumi.yaml")


# -- never allowed, on any stack ------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_public_access_is_never_allowed(config_problems, stack):
    message = only(config_problems(stack, publiclyAccessible=True))
    assert message.startswith("cruddur-db:publiclyAccessible = True: must be false on every stack")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_unencrypted_storage_is_never_allowed(config_problems, stack):
    message = only(config_problems(stack, storageEncrypted=False))
    assert message.startswith("cruddur-db:storageEncrypted = False: must be true on every stack")


# -- prod may not loosen anything -----------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,message", [
    ("deletionProtection", False, "cruddur-db:deletionProtection = False: prod must keep deletion protection on"),
    ("skipFinalSnapshot", True, "cruddur-db:skipFinalSnapshot = True: prod must take a final snapshot"),
    ("multiAz", False, "cruddur-db:multiAz = False: prod must run Multi-AZ"),
    ("backupRetentionDays", 3, "cruddur-db:backupRetentionDays = 3: prod needs at least 7 days of backups"),
    ("monitoringIntervalSeconds", 0, "cruddur-db:monitoringIntervalSeconds = 0: prod must keep enhanced monitoring on"),
    ("logRetentionDays", 30, "cruddur-db:logRetentionDays = 30: prod keeps logs at least 90 days"),
])
def test_prod_rejects_each_loosening(config_problems, evaluate_with, key, value, message):
    assert only(config_problems("prod", **{key: value})) == message
    # The same value is a legitimate choice for dev.
    evaluate_with("dev", overrides={f"cruddur-db:{key}": value})


def test_all_problems_are_reported_at_once(config_problems):
    problems = config_problems("prod", multiAz=False, deletionProtection=False, aws__region=None)
    assert len(problems) == 3
    assert any(p.startswith("aws:region is not set") for p in problems)
    assert "cruddur-db:multiAz = False: prod must run Multi-AZ" in problems
    assert "cruddur-db:deletionProtection = False: prod must keep deletion protection on" in problems


def test_config_error_message_names_the_stack_and_lists_problems(evaluate_with):
    with pytest.raises(ConfigError) as caught:
        evaluate_with("prod", overrides={"cruddur-db:multiAz": False})
    assert str(caught.value) == ("stack 'prod' has 1 configuration problem(s):\n"
                                 "  - cruddur-db:multiAz = False: prod must run Multi-AZ")


# -- network ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_operator_cidrs_never_open_to_the_world(config_problems, cidr):
    assert only(config_problems("dev", operatorCidrs=[cidr])) == (
        f"cruddur-db:operatorCidrs = '{cidr}': opens operator access to the whole internet; "
        "name your office or VPN range instead")


def test_operator_cidrs_must_be_real_cidrs(config_problems):
    assert only(config_problems("dev", operatorCidrs=["office"])) == (
        "cruddur-db:operatorCidrs = 'office': is not a CIDR, e.g. 203.0.113.0/24")
    assert only(config_problems("dev", operatorCidrs=["203.0.113.7/24"])) == (
        "cruddur-db:operatorCidrs = '203.0.113.7/24': has host bits set; did you mean 203.0.113.0/24?")


@pytest.mark.parametrize("cidr,why", [
    ("8.8.0.0/16", "must be a private IPv4 range from /16 to /24, e.g. 10.40.0.0/16"),
    ("10.0.0.0/8", "must be a private IPv4 range from /16 to /24, e.g. 10.40.0.0/16"),
    ("10.40.0.0/33", "is not an IPv4 CIDR, e.g. 10.40.0.0/16"),
])
def test_vpc_cidr_must_be_a_private_range(config_problems, cidr, why):
    assert only(config_problems("dev", vpcCidr=cidr)) == f"cruddur-db:vpcCidr = '{cidr}': {why}"


def test_at_least_two_availability_zones(config_problems):
    assert only(config_problems("dev", availabilityZones=1)) == "cruddur-db:availabilityZones = 1: must be from 2 to 3"


# -- production stack names ---------------------------------------------------------------------------------------
def project_with_stack(tmp_path, stack: str, config: dict):
    """A copy of the program and Pulumi.yaml with one extra stack file."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


@pytest.mark.parametrize("stack", ["Prod", "eu-prod", "live", "prd", "euprod", "cruddurprod", "prd01", "live2"])
def test_any_production_looking_stack_cannot_call_itself_dev(tmp_path, stack):
    project = project_with_stack(tmp_path, stack, {"aws:region": "eu-west-1", "cruddur-db:environment": "dev"})
    with pytest.raises(ConfigError) as caught:
        evaluate(stack, project_dir=project)
    assert caught.value.problems == [f"cruddur-db:environment = 'dev': stack '{stack}' is a production stack by "
                                     "name; its environment must be prod"]


@pytest.mark.parametrize("stack", ["staging", "sandbox", "test1", "useast", "qa"])
def test_a_stack_whose_name_does_not_say_dev_cannot_call_itself_dev(tmp_path, stack):
    """The policy pack cannot read the settings and judges such a stack as prod: the settings refuse the mismatch
    before anything is declared, rather than `pulumi up` failing on mandatory violations."""
    project = project_with_stack(tmp_path, stack, {"aws:region": "eu-west-1", "cruddur-db:environment": "dev"})
    with pytest.raises(ConfigError) as caught:
        evaluate(stack, project_dir=project)
    assert caught.value.problems == [
        f"cruddur-db:environment = 'dev': stack '{stack}' does not say dev in its name, and the policy pack judges "
        "a stack by its name: name it with a dev word (alice-dev, dev2) or set environment: prod"]


@pytest.mark.parametrize("stack", ["dev", "alice-dev", "dev2", "development", "devbox", "staging-dev"])
def test_dev_looking_names(stack):
    assert is_dev_stack_name(stack) and not is_production_stack_name(stack)


def test_a_dev_named_stack_may_be_dev(tmp_path):
    project = project_with_stack(tmp_path, "alice-dev", {"aws:region": "eu-west-1", "cruddur-db:environment": "dev"})
    evaluation = evaluate("alice-dev", project_dir=project)
    assert evaluation.one("aws:rds/instance:Instance").props["identifier"] == "cruddur-alice-dev-db"


# -- declarations: each key once, secure defaults, the parsers other settings are built from ------------------------
PULUMI_YAML = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]


def top_level_declarations():
    return [spec for section in (settings.Settings, *settings.SECTIONS.values()) for _, spec in settings.declared(section)]


def test_every_key_in_pulumi_yaml_is_declared_exactly_once():
    keys = [spec.key for spec in top_level_declarations()]
    assert sorted(keys) == sorted(PULUMI_YAML)
    assert settings.ORGANIZATION_KEYS == ("manageGuardrails", "targetId", "breakGlassRoleName",
                                          "exemptRegionsServices")


def test_pulumi_yaml_defaults_pass_every_rule_even_prods():
    for spec in top_level_declarations():
        default = PULUMI_YAML[spec.key]["default"]
        raw = json.dumps(default) if isinstance(default, list) else str(default).lower() \
            if isinstance(default, bool) else str(default)
        value = spec.parse(raw)
        for rule in (spec.check, spec.prod):
            assert rule is None or rule[0](value), (spec.key, value, rule[1])


def test_log_retention_is_one_stack_level_setting_for_database_flow_and_lambda_logs(evaluate_with):
    assert "log_retention_days" in {f.name for f, _ in settings.declared(settings.Settings)}
    assert "log_retention_days" not in {f.name for f in dataclasses.fields(settings.DatabaseSettings)}
    evaluation = evaluate_with("dev", overrides={"cruddur-db:logRetentionDays": 60})
    days = {group.props["name"]: group.props["retentionInDays"]
            for group in evaluation.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert days == {
        "/aws/rds/instance/cruddur-dev-db/postgresql": 60,
        "/aws/rds/instance/cruddur-dev-db/upgrade": 60,
        "/cruddur/dev/vpc-flow-logs": 60,
        "/aws/lambda/cruddur-dev-post-confirmation": 60,
        "/aws/lambda/cruddur-dev-migrator": 60,
        "/aws/lambda/cruddur-dev-migrator-db": 60,
        "/aws/lambda/cruddur-dev-rotate-master": 60,
        "/aws/lambda/cruddur-dev-rotate-master-db": 60,
        "/aws/lambda/cruddur-dev-rotate-app": 60,
        "/aws/lambda/cruddur-dev-rotate-app-db": 60,
        "/cruddur/dev/cloudtrail": 30,  # the trail keeps its own retention (trailLogRetentionDays)
    }


SG_IDS = settings.text_list(settings.text(re.compile(r"^sg-[0-9a-f]{8,17}$"), "is not a security group id"))


def test_a_list_of_validated_strings_reports_every_bad_item():
    assert SG_IDS('["sg-0123456789abcdef0", "sg-01234567"]') == ("sg-0123456789abcdef0", "sg-01234567")
    assert SG_IDS("[]") == ()
    with pytest.raises(settings.Invalid) as caught:
        SG_IDS('["sg-1", "sg-0123456789abcdef0", "default"]')
    assert caught.value.problems == (("sg-1", "is not a security group id"),
                                     ("default", "is not a security group id"))
    with pytest.raises(settings.Invalid) as caught:
        SG_IDS("sg-0123456789abcdef0")
    assert caught.value.problems == (("sg-0123456789abcdef0", "must be a list of strings, e.g. [\"a\", \"b\"]"),)


def test_parsers_name_what_is_allowed():
    with pytest.raises(settings.Invalid) as caught:
        settings.text(("a", "b"))("c")
    assert caught.value.problems == (("c", "must be one of a, b"),)
    with pytest.raises(settings.Invalid) as caught:
        settings.integer(1, 9, (1, 5))(" 4 ")
    assert caught.value.problems == ((4, "must be one of 1, 5"),)
    assert settings.boolean()(" TRUE ") is True and settings.boolean()(False) is False
    with pytest.raises(settings.Invalid) as caught:
        settings.text_list(empty="name one")("[]")
    assert caught.value.problems == (([], "name one"),)


# -- the app's network path ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["10.0.0.0/8", "0.0.0.0/0", "sg-XYZ", "sg-0123456", "sg-0123456789abcdef01",
                                   "SG-0123456789ABCDEF0", "sg-*"])
def test_app_security_group_ids_must_be_sg_ids_never_cidrs(config_problems, value):
    problems = config_problems("dev", appSecurityGroupIds=["sg-0123456789abcdef0", value])
    assert problems == [f"cruddur-db:appSecurityGroupIds = {value!r}: must be an existing security group id (sg- and "
                        "8 to 17 lower-case hex characters), never a CIDR: the database admits security groups only"]


def test_app_security_group_ids_must_be_a_list(config_problems):
    assert config_problems("prod", appSecurityGroupIds="sg-0123456789abcdef0") == [
        "cruddur-db:appSecurityGroupIds = 'sg-0123456789abcdef0': must be a list of strings, e.g. [\"a\", \"b\"]"]
