"""ops/preview_guard.py on recorded `pulumi preview --json` documents (tests/ci/fixtures/, Pulumi's preview digest
shape): a plan that replaces or deletes a stateful resource fails with one line per resource, a harmless plan
passes, an explicit opt-in lets exactly what it names through, and unusable input is one line and exit 2."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops import preview_guard
from ops.preview_guard import main
from tests.ci.ci_helpers import ROOT

FIXTURES = Path(__file__).parent / "fixtures"
P = "urn:pulumi:prod::cruddur-db::"
DB = P + "cruddur:database:Database$aws:rds/instance:Instance::db-instance"
DATA_KEY = P + "cruddur:kms:KmsKey$aws:kms/key:Key::data-key"
POOL = P + "cruddur:confirmation:Confirmation$aws:cognito/userPool:UserPool::confirmation-pool"
SECRET = P + "cruddur:database:Database$aws:secretsmanager/secret:Secret::db-master-secret"
HINT = ("preview guard: 1 stateful resource(s) would be destroyed. If that is intended, opt in (PR label "
        "allow-stateful-replace; on main a commit trailer `Allow-Stateful-Replace: <URN>`): runbooks/ci-roles.md")


@pytest.fixture(autouse=True)
def no_ambient_opt_in(monkeypatch):
    monkeypatch.delenv("ALLOW_STATEFUL_REPLACE", raising=False)


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def refused(capsys, name: str) -> str:
    """The one stateful step the guard refuses in the recorded plan ``name``: exit 1, nothing on stdout, the step's
    line and the opt-in hint on stderr."""
    code, out, err = run(capsys, fixture(name))
    assert (code, out, len(err), err[-1]) == (1, [], 2, HINT)
    return err[0]


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def test_the_fixtures_have_the_preview_digest_shape():
    for path in FIXTURES.glob("*.json"):
        if path.name == "truncated.json":
            continue
        doc = json.loads(path.read_text())
        assert set(doc) == {"config", "steps", "duration", "changeSummary"}, path.name
        for step in doc["steps"]:
            assert step["op"] in preview_guard.KNOWN_OPS and step["urn"].startswith("urn:pulumi:prod::cruddur-db::")
            for key in ("oldState", "newState"):
                if key in step:
                    assert step[key]["urn"] == step["urn"] and {"type", "inputs", "outputs"} <= set(step[key])


def test_a_replaced_database_instance_fails_with_its_replace_reasons(capsys):
    assert refused(capsys, "replace-db-instance.json") == (
        f"preview guard: replace: aws:rds/instance:Instance db-instance (replace reasons: kmsKeyId) [{DB}]")


def test_a_deleted_kms_key_fails_and_the_created_one_does_not_count(capsys):
    assert refused(capsys, "delete-kms-key.json") == (
        "preview guard: delete: aws:kms/key:Key data-key (removed from the program, or its URN changed "
        f"(name, type or parent) without an alias) [{DATA_KEY}]")


def test_an_in_place_update_of_the_instance_tags_passes(capsys):
    code, out, err = run(capsys, fixture("update-db-instance-tags.json"))
    assert (code, err) == (0, [])
    assert out == ["preview guard: no stateful resource is replaced or deleted (steps checked: 2)"]


def test_a_plan_with_no_changes_passes(capsys):
    assert run(capsys, fixture("no-changes.json")) == (
        0, ["preview guard: no stateful resource is replaced or deleted (steps checked: 1)"], [])


def test_replacement_steps_are_one_line_per_stateful_resource_and_harmless_types_pass(capsys):
    # create-replacement + replace + delete-replaced of the user pool, and of a security group (not stateful).
    assert refused(capsys, "replacement-steps.json") == (
        "preview guard: replace: aws:cognito/userPool:UserPool confirmation-pool "
        f"(replace reasons: usernameAttributes) [{POOL}]")


def test_delete_replaced_without_a_logical_replace_step_is_still_a_replace(capsys):
    code, out, err = run(capsys, fixture("delete-replaced-secret.json"))
    assert code == 1
    assert err[0] == (f"preview guard: replace: aws:secretsmanager/secret:Secret db-master-secret "
                      f"(replace reasons: name) [{SECRET}]")


@pytest.mark.parametrize("value", ["true", "yes", "TRUE", " yes\n"])
def test_the_env_opt_in_lets_everything_through_and_says_what(capsys, monkeypatch, value):
    monkeypatch.setenv("ALLOW_STATEFUL_REPLACE", value)
    code, out, err = run(capsys, fixture("replace-db-instance.json"))
    assert (code, err) == (0, [])
    assert out == [
        f"preview guard: allowed by opt-in: replace: aws:rds/instance:Instance db-instance "
        f"(replace reasons: kmsKeyId) [{DB}]",
        "preview guard: no stateful resource is replaced or deleted (steps checked: 3)",
    ]


@pytest.mark.parametrize("value", ["false", "", "no", "0"])
def test_a_false_or_empty_opt_in_allows_nothing(capsys, monkeypatch, value):
    monkeypatch.setenv("ALLOW_STATEFUL_REPLACE", value)
    code, _, err = run(capsys, fixture("replace-db-instance.json"))
    assert code == 1 and err[-1] == HINT


def test_an_opt_in_naming_the_urn_allows_that_resource_only(capsys, tmp_path):
    both = json.loads((FIXTURES / "replace-db-instance.json").read_text())
    both["steps"] += json.loads((FIXTURES / "delete-kms-key.json").read_text())["steps"][1:]
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(both))
    code, out, err = run(capsys, str(path), "--allow", DB)
    assert code == 1
    assert out == [f"preview guard: allowed by opt-in: replace: aws:rds/instance:Instance db-instance "
                   f"(replace reasons: kmsKeyId) [{DB}]"]
    assert err[0].startswith("preview guard: delete: aws:kms/key:Key data-key")
    assert len(err) == 2

    code, out, err = run(capsys, str(path), "--allow", f"{DB},{DATA_KEY}")
    assert (code, err) == (0, [])


def test_an_opt_in_for_a_resource_the_plan_keeps_is_noted_and_the_plan_still_fails(capsys):
    code, out, err = run(capsys, fixture("replace-db-instance.json"), "--allow", DATA_KEY)
    assert code == 1
    assert out == [f"preview guard: note: the opt-in names {DATA_KEY}, which this plan does not replace or delete"]


@pytest.mark.parametrize("argv,env,message", [
    (["--allow", "db-instance"], None,
     "preview guard: --allow: 'db-instance' is neither true/yes nor a resource URN (urn:pulumi:...)"),
    ([], "maybe",
     "preview guard: ALLOW_STATEFUL_REPLACE: 'maybe' is neither true/yes nor a resource URN (urn:pulumi:...)"),
])
def test_an_opt_in_that_is_neither_yes_nor_urns_is_refused(capsys, monkeypatch, argv, env, message):
    if env is not None:
        monkeypatch.setenv("ALLOW_STATEFUL_REPLACE", env)
    assert run(capsys, fixture("replace-db-instance.json"), *argv) == (2, [], [message])


def test_a_missing_file_is_one_line_and_exit_2(capsys, tmp_path):
    missing = tmp_path / "preview.json"
    assert run(capsys, str(missing)) == (2, [], [f"preview guard: cannot read {missing}: No such file or directory"])


@pytest.mark.parametrize("name,message", [
    ("preview-without-json.txt", "is not JSON (Expecting value at line 1 column 1): "
                                 "expected the output of `pulumi preview --json`"),
    ("truncated.json", "is not JSON (Expecting property name enclosed in double quotes at line 21 column 13): "
                       "expected the output of `pulumi preview --json`"),
])
def test_malformed_json_is_one_line_and_exit_2(capsys, name, message):
    assert run(capsys, fixture(name)) == (2, [], [f"preview guard: {fixture(name)} {message}"])


@pytest.mark.parametrize("doc,message", [
    ({"config": {}}, 'has no "steps": expected the output of `pulumi preview --json`'),
    ([1, 2], 'has no "steps": expected the output of `pulumi preview --json`'),
    ({"steps": {"op": "delete"}}, '"steps" is not a list'),
    ({"steps": [{"op": "delete"}]}, 'steps[0] has no string "op" and "urn"'),
    ({"steps": [{"op": "obliterate", "urn": DB}]}, "steps[0] has op 'obliterate', which this guard does not know"),
])
def test_json_that_is_not_a_preview_digest_is_one_line_and_exit_2(capsys, tmp_path, doc, message):
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    sep = " " if message.startswith("has no") or message.startswith("is not") else ": "
    assert run(capsys, str(path)) == (2, [], [f"preview guard: {path}{sep}{message}"])


def test_a_null_step_list_is_an_empty_plan(capsys, tmp_path):
    path = tmp_path / "preview.json"
    path.write_text('{"steps": null, "changeSummary": {}}')
    assert run(capsys, str(path))[0] == 0


def test_the_type_comes_from_the_urn_when_the_step_has_no_state():
    steps = [{"op": "delete", "urn": DB}, {"op": "delete", "urn": P + "aws:ec2/vpc:Vpc::network-vpc"}]
    (found,) = preview_guard.findings(steps)
    assert (found.type, found.name, found.op) == ("aws:rds/instance:Instance", "db-instance", "delete")
    assert preview_guard.split_urn(P + "a:b:C$d:e:F::name::with::colons") == ("d:e:F", "name::with::colons")


def test_the_guarded_types_cover_the_stateful_resources_and_are_real_pulumi_aws_type_tokens():
    assert {"aws:rds/instance:Instance", "aws:secretsmanager/secret:Secret",
            "aws:secretsmanager/secretVersion:SecretVersion", "aws:kms/key:Key", "aws:s3/bucket:Bucket",
            "aws:s3/bucketV2:BucketV2", "aws:cognito/userPool:UserPool", "aws:backup/vault:Vault"
            } <= set(preview_guard.STATEFUL_TYPES)
    package = Path(importlib.util.find_spec("pulumi_aws").origin).parent
    for token in preview_guard.STATEFUL_TYPES:
        module = token.split(":")[1].split("/")[0]
        sources = "".join(p.read_text() for p in (package / module).glob("*.py"))
        assert f'@pulumi.type_token("{token}")' in sources, token


def test_it_runs_as_a_module_from_the_repository_root():
    result = subprocess.run([sys.executable, "-m", "ops.preview_guard", fixture("replace-db-instance.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == HINT
