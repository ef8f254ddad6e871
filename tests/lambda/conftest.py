"""Fixtures for the Lambda tests (helpers in ``tests/lambda_support.py``, for the layers ``tests/layer_support.py``).

``load_handler()`` loads a fresh handler module (a fresh "container") and closes its connection after the test;
``handler_env`` clears every variable the handler reads; ``context`` is a Lambda context. The real-PostgreSQL
fixtures (``migrated_database_url``, ``role_url``, ``own_server``, ``down_database_url``) come from
``tests/conftest.py``. ``layer_builds`` holds each layer's stashed wheels and end-to-end build, made once per
session and shared by the layer tests.
"""

from __future__ import annotations

import sys
import uuid

import pytest

from tests.db_support import admin_execute
from tests.lambda_support import HANDLER_ENV, LambdaContext, load_handler_module
from tests.layer_support import LayerBuilds


@pytest.fixture(scope="session")
def layer_builds(tmp_path_factory) -> LayerBuilds:
    return LayerBuilds(tmp_path_factory)


@pytest.fixture
def handler_env(monkeypatch):
    for name in HANDLER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cruddur-post-confirmation")
    return monkeypatch


@pytest.fixture
def load_handler(handler_env):
    loaded = []

    def load():
        module = load_handler_module()
        # Powertools keeps one handler per service name, bound to the stream of the first load; point it at this
        # test's stdout so capsys sees the JSON lines.
        module.logger.registered_handler.stream = sys.stdout
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        module._discard()
        sys.modules.pop(module.__name__, None)


@pytest.fixture
def aws(monkeypatch):
    """moto for every AWS API, with test credentials in the tests' region; the developer's profile never leaks in."""
    from moto import mock_aws

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "eu-west-1")):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext(aws_request_id=str(uuid.uuid4()))


@pytest.fixture
def login_role(pg_server):
    """``login_role(password) -> name``: a new role on the suite's server that logs in with ``password`` and may read
    every table (``pg_read_all_data``): a "master" whose password is whatever a test says. Unique name (roles are
    cluster-wide), dropped afterwards."""
    created: list[str] = []

    def _login_role(password: str) -> str:
        name = f"master_{uuid.uuid4().hex[:10]}"
        admin_execute(pg_server.admin_url(), f"CREATE ROLE {name} LOGIN PASSWORD %s IN ROLE pg_read_all_data",
                      (password,))
        created.append(name)
        return name

    yield _login_role
    for name in created:
        admin_execute(pg_server.admin_url(), f"DROP ROLE IF EXISTS {name}")


# -- the rotation functions (lambda/rotate_master; helpers in tests/rotation_support.py) ------------------------------
@pytest.fixture
def rotation_aws(monkeypatch):
    """moto's Secrets Manager client, with the rotation function's environment as components/master_rotation.py
    deploys it (single user; a test sets ``ROTATION_STRATEGY``/``MASTER_SECRET_ARN`` for alternating users). The
    suite's server has no TLS: ``DB_SSLMODE=disable`` here, ``verify-full`` on AWS."""
    import boto3
    from moto import mock_aws

    from tests.rotation_support import DB_FUNCTION, REGION

    for name in ("ROTATION_STRATEGY", "MASTER_SECRET_ARN", "DB_SSLROOTCERT", "POWERTOOLS_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("DB_SSLMODE", "disable")
    monkeypatch.setenv("DB_FUNCTION_NAME", DB_FUNCTION)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def rotation_master(pg_server, empty_database_url):
    """A standard RDS secret value for a login role standing in for the RDS master user (CREATEROLE), with a known
    first password, on a fresh database; dropped afterwards."""
    import psycopg2

    name = f"rot_{uuid.uuid4().hex[:12]}"
    password = uuid.uuid4().hex
    admin = psycopg2.connect(pg_server.admin_url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {name} LOGIN CREATEROLE PASSWORD %s", (password,))
    database = empty_database_url.rsplit("/", 1)[1]
    yield {"engine": "postgres", "host": pg_server.host, "port": pg_server.port, "username": name,
           "password": password, "dbname": database}
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {name}")
    admin.close()


@pytest.fixture
def rotation_pair(pg_server, migrated_database_url):
    """The app secret's pair of login users, created as 0006_app_clone_role.sql creates ``cruddur_app``/
    ``cruddur_app_clone`` but under fresh names (the suite's shared roles keep their passwords), by a CREATEROLE user
    standing in for the RDS master: {"master": its secret value, "app": the app secret's value (the base user),
    "base", "clone"}. The base user owns the app's privileges (SELECT, INSERT on users), the clone inherits them;
    all dropped afterwards."""
    import psycopg2

    tag = uuid.uuid4().hex[:10]
    master, base = f"rotm_{tag}", f"rotapp_{tag}"
    clone = f"{base}_clone"
    master_password, app_password = uuid.uuid4().hex, uuid.uuid4().hex
    database = migrated_database_url.rsplit("/", 1)[1]
    admin = psycopg2.connect(migrated_database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {master} LOGIN CREATEROLE PASSWORD %s", (master_password,))
    as_master = psycopg2.connect(host=pg_server.host, port=pg_server.port, dbname=database, user=master,
                                 password=master_password)
    as_master.autocommit = True
    with as_master.cursor() as cur:  # the master creates them, as the migrations do on RDS
        cur.execute(f"CREATE ROLE {base} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s", (app_password,))
        cur.execute(f"CREATE ROLE {clone} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE")
        cur.execute(f"GRANT {base} TO {clone} WITH INHERIT TRUE, SET FALSE")
    as_master.close()
    with admin.cursor() as cur:
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {base}")
        cur.execute(f"GRANT SELECT, INSERT ON users TO {base}")
    common = {"engine": "postgres", "host": pg_server.host, "port": pg_server.port, "dbname": database}
    yield {"master": {**common, "username": master, "password": master_password},
           "app": {**common, "username": base, "password": app_password}, "base": base, "clone": clone}
    with admin.cursor() as cur:
        cur.execute(f"REVOKE ALL ON users FROM {base}")
        cur.execute(f"REVOKE ALL ON SCHEMA public FROM {base}")
        for role in (clone, base, master):
            cur.execute(f"DROP ROLE IF EXISTS {role}")
    admin.close()


# -- code that must run without a package: the AWS SDK inside the VPC, a layer a function does not have ---------
BLOCKING_PRELUDE = '''
import sys

class _Blocked:
    """The blocked packages are unimportable here, as if the runtime (or a layer) did not have them."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: this code must not need it)", name=name)
        return None

sys.meta_path.insert(0, _Blocked())
sys.path[:0] = {paths!r}
'''
BLOCKING_EPILOGUE = '''
_loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
assert not _loaded, _loaded
'''


@pytest.fixture
def without_aws():
    """``without_aws(code, package, env=None, blocked=("boto3", "botocore")) -> object``: run ``code`` in a fresh
    interpreter where the ``blocked`` packages (by default the AWS SDK) cannot be imported, with ``lambda/<package>``
    and ``lambda/shared`` first on ``sys.path`` (as beside the package's handler) and none of this process's
    ``AWS_*`` variables; ``code`` prints ONE JSON line as its last line, which is returned. Fails with the child's
    stderr when it fails, or when any module of a blocked package got loaded after all."""
    import json
    import os
    import subprocess

    from ops.paths import PROJECT_ROOT

    def run(code: str, package: str, env: dict[str, str] | None = None, blocked=("boto3", "botocore")):
        paths = [str(PROJECT_ROOT / "lambda" / name) for name in (package, "shared")]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        child_env.update(env or {})
        script = (BLOCKING_PRELUDE.format(paths=paths, blocked=tuple(blocked)) + code
                  + BLOCKING_EPILOGUE.format(blocked=tuple(blocked)))
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=child_env,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


# -- the schema migrator (tests/lambda/test_migrator_*.py; helpers in tests/migrator_support.py) --------------------
@pytest.fixture
def migrator_runtime(monkeypatch):
    """What the Lambda runtime gives the migrator's functions (role credentials, region, the function's name), and
    nothing of the developer's shell (every variable the migrator reads is cleared)."""
    from tests.migrator_support import FUNCTION_NAME, MIGRATOR_ENV, REGION

    for name in MIGRATOR_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLEROLEKEY00",
                        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        "AWS_SESSION_TOKEN": "session-token-example", "AWS_REGION": REGION,
                        "AWS_DEFAULT_REGION": REGION, "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
                        "POWERTOOLS_SERVICE_NAME": "cruddur-migrator"}.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.fixture
def migrator(migrator_runtime):
    """The handler module (one "container" per test), its Powertools JSON log lines written to stdout."""
    from tests.migrator_support import load_migrator_module

    module = load_migrator_module()
    # Powertools keeps one handler per service name, bound to the stream of the first load; point it at this test's
    # stdout so capsys sees the JSON lines.
    module.logger.registered_handler.stream = sys.stdout
    yield module
    sys.modules.pop(module.__name__, None)


@pytest.fixture
def db_env(migrator_runtime):
    """``db_env(url, migrations_dir=sql/migrations)``: the database function's environment for ``url``'s database,
    as components/migrator.py sets it, plus ``DB_SSLMODE=disable`` (the suite's server has no TLS) and
    ``MIGRATIONS_DIR`` (the repository's migrations instead of the package's ``migrations/``)."""
    from ops.urls import parse
    from tests.migrator_support import REPO_MIGRATIONS

    def _db_env(url: str, migrations_dir=REPO_MIGRATIONS) -> None:
        info = parse(url)
        for name, value in {"DB_HOST": info.host, "DB_PORT": str(info.port), "DB_NAME": info.database,
                            "APP_ROLE": "cruddur_app", "DB_SSLMODE": "disable",
                            "MIGRATIONS_DIR": str(migrations_dir)}.items():
            migrator_runtime.setenv(name, value)

    return _db_env
