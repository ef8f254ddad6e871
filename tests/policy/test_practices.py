"""Practices the pack took over from code alone (strong auth, secrets in Secrets Manager): each passes on the
committed stacks and reports a real recorded resource (or stack) with one property changed."""

from __future__ import annotations

import json

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.policy.conftest import REMOVE, changed, policies, replaced, resource_violations, stack_violations, violations
from tests.policy.test_policies import _stack_of

INSTANCE = "aws:rds/instance:Instance"
USER_POOL = "aws:cognito/userPool:UserPool"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


@pytest.mark.parametrize("rule_name", ["rds-scram-passwords", "rds-master-password-in-secrets-manager",
                                       "cognito-password-policy"])
def test_new_practice_rules_pass_on_committed_stacks(rule_name, dev, prod):
    assert violations(rule_name, dev) == []
    assert violations(rule_name, prod) == []


# -- scram ----------------------------------------------------------------------------------------------------------
def _group(evaluation):
    return evaluation.one("aws:rds/parameterGroup:ParameterGroup")


@pytest.mark.parametrize("edit", ["md5", "drop"])
def test_rds_scram_passwords(prod, edit):
    group = _group(prod)
    if edit == "drop":
        parameters = [p for p in group.props["parameters"] if p["name"] != "password_encryption"]
    else:
        parameters = [dict(p, value="md5") if p["name"] == "password_encryption" else p
                      for p in group.props["parameters"]]
    broken = replaced(prod, group, changed(group, parameters=parameters))
    assert stack_violations("rds-scram-passwords", broken) == [
        "rds Instance 'db-instance' links parameter group 'db-params' without password_encryption=scram-sha-256; add "
        "{name: password_encryption, value: 'scram-sha-256'} so no password is stored as md5"]


def test_rds_scram_passwords_leaves_unlinked_groups_to_the_tls_rule(prod):
    db = prod.one(INSTANCE)
    assert stack_violations("rds-scram-passwords", replaced(prod, db, changed(db, parameterGroupName="other"))) == []


# -- the master password is kept in Secrets Manager ------------------------------------------------------------------
def test_master_password_kept_in_no_secret(prod):
    version = prod.one(SECRET_VERSION, "db-master-secret-value")
    doc = json.loads(version.outputs["secretString"])
    doc["password"] = "something-else"
    broken = replaced(prod, version, changed(version, secretString=json.dumps(doc)))
    (message,) = stack_violations("rds-master-password-in-secrets-manager", broken)
    assert message == ("rds Instance 'db-instance' has a master password that no Secrets Manager secret of this stack "
                       "holds; keep it in one (a SecretVersion whose secret_string has it as \"password\") or set "
                       "manage_master_user_password=True")
    assert doc["password"] not in message and json.loads(version.outputs["secretString"])["password"] not in message
    assert len(stack_violations("rds-master-password-in-secrets-manager", replaced(prod, version))) == 1


def test_master_password_managed_by_rds_or_unknown_passes(prod):
    version = prod.one(SECRET_VERSION, "db-master-secret-value")
    db = prod.one(INSTANCE)
    without_secret = replaced(prod, version)
    managed = replaced(without_secret, db, changed(db, password=REMOVE, manageMasterUserPassword=True))
    assert stack_violations("rds-master-password-in-secrets-manager", managed) == []
    args = _stack_of(without_secret, db_instance={"password": UNKNOWN_STRING_VALUE})
    assert policies.rule("rds-master-password-in-secrets-manager").run(args) == []
    args = _stack_of(prod, db_master_secret_value={"secretString": UNKNOWN_STRING_VALUE},
                     db_instance={"password": "x"})
    assert policies.rule("rds-master-password-in-secrets-manager").run(args) == []


def test_secret_string_that_is_not_json_does_not_crash(prod):
    version = prod.one(SECRET_VERSION, "db-master-secret-value")
    broken = replaced(prod, version, changed(version, secretString="not json"))
    assert len(stack_violations("rds-master-password-in-secrets-manager", broken)) == 1


# -- Cognito password policy -----------------------------------------------------------------------------------------
POOL_LABEL = "cognito UserPool 'confirmation-pool'"


@pytest.mark.parametrize("change, expected", [
    ({"minimumLength": 8}, f"{POOL_LABEL} accepts passwords of 8 characters; set password_policy.minimum_length "
                           ">= 12"),
    ({"minimumLength": "abc"}, f"{POOL_LABEL} accepts passwords of 'abc' characters; set "
                               "password_policy.minimum_length >= 12"),
    ({"requireSymbols": False, "requireNumbers": "false"},
     f"{POOL_LABEL} password policy does not require numbers, symbols; set require_numbers, require_symbols=True"),
    ({"temporaryPasswordValidityDays": 30}, f"{POOL_LABEL} lets temporary passwords live 30 days; set "
                                            "password_policy.temporary_password_validity_days <= 7"),
])
def test_cognito_password_policy(prod, change, expected):
    pool = prod.one(USER_POOL)
    policy = dict(pool.props["passwordPolicy"], **change)
    assert resource_violations("cognito-password-policy", prod, changed(pool, passwordPolicy=policy)) == [expected]


def test_cognito_without_a_password_policy_gets_the_defaults(prod):
    pool = prod.one(USER_POOL)
    assert resource_violations("cognito-password-policy", prod, changed(pool, passwordPolicy=REMOVE)) == [
        f"{POOL_LABEL} accepts passwords of 8 characters; set password_policy.minimum_length >= 12"]


def test_committed_pool_meets_the_pack_minimum(prod):
    assert prod.one(USER_POOL).props["passwordPolicy"]["minimumLength"] >= policies.COGNITO_MIN_PASSWORD_LENGTH
