"""What every check reads: the stack's outputs, its settings as the stack file declares them, AWS clients (read-only
calls, botocore's retries), the operator tunnel to the database, and the clock.

AWS refusals are read one way (``ops.stack.aws_errors``): expired or missing credentials stop the whole command
with one line (every later check would fail the same way); a denied call makes that one check ``not checked``,
naming the permission (``cruddur stack check --help`` lists them all).
"""

from __future__ import annotations

import contextvars
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ops.errors import CruddurError
from ops.stack.aws_errors import DENIED, EXPIRED, error_code
from ops.stack.check.result import NotChecked

RETRIES = {"total_max_attempts": 5, "mode": "standard"}
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20
# Global services: their endpoint is in us-east-1 whatever the stack's region.
GLOBAL = {"budgets": "us-east-1"}
# IAM actions not named after their API operation.
ACTIONS = {"describe_budget": "budgets:ViewBudget"}


class Abort(CruddurError):
    """Nothing more can be checked (expired or missing AWS credentials): the command stops with this one line."""


def load_settings(stack: str) -> Any:
    """The stack's ``Settings`` as ``pulumi up`` reads them from Pulumi.yaml and Pulumi.STACK.yaml (offline)."""
    import pulumi

    from components.settings import _Loader
    from ops.offline.stack_eval import stack_config

    _, config, secret_keys = stack_config(stack)

    def run() -> Any:
        pulumi.runtime.set_all_config(config, secret_keys)
        return _Loader(stack).load()
    return contextvars.Context().run(run)


@dataclass
class DatabaseReach:
    """How the checks reach the database: the operator tunnel (``tunnel_port``; TLS still verifies the RDS host
    against ``PGSSLROOTCERT`` or the repository's RDS CA bundle). ``url_of`` builds a connection URL from a secret's
    credentials (default: the secret's own host, verify-full)."""

    tunnel_port: int | None
    endpoint_id: str | None = None
    url_of: Callable[[Any], str] | None = None

    def target(self, creds: Any, rotation: Any = None):
        """The ``DbTarget`` of ``creds`` (an ``ops.stack.secrets.Credentials``) through the tunnel."""
        from ops.db.target import DbTarget

        if self.url_of is not None:
            url = self.url_of(creds)
        else:  # verify-full needs the RDS CA bundle: the repository's, unless PGSSLROOTCERT names one
            import os

            from ops.stack.app_env import RDS_CA_BUNDLE
            from ops.urls import with_params

            url = creds.url if os.environ.get("PGSSLROOTCERT") else with_params(creds.url,
                                                                                sslrootcert=str(RDS_CA_BUNDLE))
        return DbTarget(url, tunnel_port=self.tunnel_port, endpoint_id=self.endpoint_id, rotation=rotation)

    def connect(self, creds: Any):
        """A connection logged in with ``creds`` alone (no other stage of the secret); psycopg2 errors unchanged, so
        a check can tell a refused password from an unreachable server."""
        import psycopg2

        from ops.db.connections import dsn_params

        return psycopg2.connect(**dsn_params(self.target(creds)))


@dataclass
class Context:
    stack: str
    outputs: dict[str, Any] = field(repr=False)
    settings: Any = None  # components.settings.Settings, or None (then ``settings_problem`` says why)
    settings_problem: str = ""
    reach: DatabaseReach | None = None
    clients: dict[str, Any] = field(default_factory=dict, repr=False)  # service -> client (tests put stubs here)
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return str(self.output("region"))

    def output(self, key: str) -> Any:
        value = self.outputs.get(key)
        if value in (None, "", []):
            raise NotChecked(f"stack {self.stack} has no output {key!r} (has `pulumi up -s {self.stack}` completed "
                             "with this version of the program?)")
        return value

    def setting(self, read: Callable[[Any], Any]) -> Any:
        """A value of the stack's settings (``read(settings)``), or NotChecked when the stack file cannot be read."""
        if self.settings is None:
            raise NotChecked(f"the stack file cannot be read, so what it configures is unknown: {self.settings_problem}")
        return read(self.settings)

    def client(self, service: str):
        if service not in self.clients:
            import boto3
            from botocore.config import Config

            config = Config(retries=dict(RETRIES), connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
            self.clients[service] = boto3.session.Session().client(
                service, region_name=GLOBAL.get(service, self.region), config=config)
        return self.clients[service]

    def call(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One read-only AWS call. Expired/missing credentials: ``Abort``; denied: ``NotChecked`` naming the
        permission; unreachable: ``NotChecked``; any other error: botocore's ``ClientError``, for the check."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            api = self.client(service)
            action = iam_action(service, operation, api)
            return getattr(api, operation)(**kwargs)
        except (NoCredentialsError, PartialCredentialsError):
            raise Abort("no AWS credentials: sign in (e.g. `aws sso login`, or set AWS_PROFILE) as an operator or the "
                        "deploy role; `cruddur stack check --help` lists the read permissions it needs") from None
        except EndpointConnectionError:
            raise NotChecked(f"cannot reach {service} in {self.region}: check your network or proxy") from None
        except ClientError as exc:
            code = error_code(exc)
            if code in EXPIRED:
                raise Abort(f"your AWS credentials have expired: sign in again (e.g. `aws sso login`) and re-run "
                            f"({code})") from None
            if code in DENIED or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
                raise NotChecked(f"access denied to {action}: grant it to the role running the check "
                                 f"(`cruddur stack check --help` lists the read permissions) ({code})") from None
            raise
        except BotoCoreError as exc:
            raise NotChecked(f"{action} failed: {type(exc).__name__}") from None

    def once(self, key: str, read: Callable[[], Any]) -> Any:
        """``read()`` once per run (several checks judge the same description); a NotChecked is remembered too."""
        if key not in self.cache:
            try:
                self.cache[key] = read()
            except NotChecked as exc:
                self.cache[key] = exc
        value = self.cache[key]
        if isinstance(value, NotChecked):
            raise value
        return value

    def database(self) -> DatabaseReach:
        if self.reach is None or self.reach.tunnel_port is None and self.reach.url_of is None:
            raise NotChecked("no tunnel to the database: open the operator tunnel (docs/stack-check.md) and re-run "
                             "with --tunnel-port 5432")
        return self.reach


def iam_action(service: str, operation: str, api: Any) -> str:
    """The IAM action of a client method: ``rds:DescribeDBInstances`` (the API's own spelling, from botocore)."""
    return ACTIONS.get(operation) or f"{service}:{api.meta.method_to_api_mapping[operation]}"
