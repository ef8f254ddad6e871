"""The CLI's ``-s STACK`` master login through a rotation: the Lambdas' ``lambda/shared/master_login.py``, reused.

The master secret rotates single-user (``lambda/rotate_master/handler.py``): between the rotation's ``setSecret`` and
``finishSecret`` the database accepts only the AWSPENDING password, and a database restored from a snapshot taken
before the last rotation accepts only AWSPREVIOUS. ``ops.cli.targets.resolve`` reads AWSCURRENT
(``ops.stack.secrets``) and gives the stack's ``DbTarget`` a ``MasterRotation``; ``ops.db.connections.connect`` (the
one way every ``cruddur db``/``users`` command opens a connection) logs in through it:

1. the first connection walks the stages with both halves of ``lambda/shared/master_login.py`` (the SAME source
   file the migrator and the restore check carry, loaded here by path, never copied): ``login`` with AWSCURRENT
   first and then, lazily through ``read_fallbacks``, AWSPENDING and AWSPREVIOUS, so Secrets Manager is asked for
   those only when the server refuses AWSCURRENT's password (SQLSTATE 28P01), each once; any other error (server
   down, TLS, missing database) propagates unchanged at once; when no stage logs in, the ORIGINAL AWSCURRENT error
   is raised, so the command fails with the same one line as before;
2. when a fallback stage logged in, one line on stderr names the stage (never a password; the URL redacted), and
   every later connection of the command (and ``db connect``'s psql) uses that stage's username and password
   directly, without walking again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from ops import lambda_shared

SHARED_SOURCE = lambda_shared.source("master_login")  # the one source (components/lambda_shared.py copies it)

Connection = TypeVar("Connection")

NOTES = {
    "AWSPENDING": "a rotation is in progress (between setSecret and finishSecret): AWSCURRENT works again once it "
                  "finishes",
    "AWSPREVIOUS": "the database predates the last rotation (e.g. restored from an older snapshot): see "
                   "runbooks/rotate-master-password.md",
}


def shared() -> ModuleType:
    """``lambda/shared/master_login.py`` as a module (``ops.lambda_shared``: loaded once, by path)."""
    return lambda_shared.load("master_login")


class _Quiet:
    """The shared helper's logger, for the CLI: it keeps the helper's messages (stage names, never a password) instead
    of printing them, so a failure stays ONE line; the CLI prints its own line when a fallback stage logs in."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, message: str, **_: Any) -> None:
        self.messages.append(message)

    def warning(self, message: str, **_: Any) -> None:
        self.messages.append(message)


class _LazyClient:
    """A Secrets Manager client made on first use."""

    def __init__(self, make: Callable[[], Any]):
        self._make = make
        self._client = None

    def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
        if self._client is None:
            self._client = self._make()
        return self._client.get_secret_value(**kwargs)


class MasterRotation:
    """Where a stack's master secret is, its AWSCURRENT credentials, and, after the first login, the stage that
    logged in. Never shows a password (``repr`` names the secret and the stage only)."""

    def __init__(self, secret_arn: str, region: str, username: str, password: str, *,
                 notify: Callable[[str], None] | None = None, client_factory: Callable[[str], Any] | None = None):
        self.secret_arn = secret_arn
        self.region = region
        self._current = {"username": username, "password": password}
        self._notify = notify
        self._client_factory = client_factory
        self._chosen: dict[str, Any] | None = None  # the credentials that logged in (after the first login)
        self.stage: str | None = None  # the stage that logged in (None before the first login)

    def __repr__(self) -> str:
        return f"MasterRotation({self.secret_arn!r}, stage={self.stage!r})"

    def credentials(self) -> tuple[str, str] | None:
        """The username and password of the stage that logged in, when it is not AWSCURRENT (else None: the URL's)."""
        if self._chosen is None or self.stage == shared().CURRENT:
            return None
        return self._chosen["username"], self._chosen["password"]

    def login(self, connect: Callable[[str, str], Connection], shown: str) -> Connection:
        """``connect(username, password)`` through the rotation (module docstring); raises the driver's error."""
        if self._chosen is not None:
            return connect(self._chosen["username"], self._chosen["password"])
        module = shared()
        client = _LazyClient(self._client)  # Secrets Manager is asked only when AWSCURRENT is refused
        quiet = _Quiet()
        candidates = itertools.chain([module.candidate(module.CURRENT, self._current)],
                                     module.read_fallbacks(client, self.secret_arn, quiet))  # lazy: read on demand
        result = module.login(candidates, lambda secret: connect(secret["username"], secret["password"]), quiet)
        self._chosen, self.stage = result.secret, result.stage
        if result.stage != module.CURRENT and self._notify is not None:
            self._notify(f"note: {shown} refused the master secret's {module.CURRENT} password; logged in with its "
                         f"{result.stage} version ({NOTES.get(result.stage, 'see runbooks/rotate-master-password.md')})")
        return result.connection

    def _client(self):
        if self._client_factory is not None:
            return self._client_factory(self.region)
        from ops.stack.secrets import client

        return client(self.region)
