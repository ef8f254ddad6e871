"""Connection URLs: parse, rebuild, and redact. Every URL the CLI shows goes through ``redact``.

Use ``redact(url)`` for display and ``scrub(text, *urls)`` for any free text (driver errors, subprocess
output) that might echo a connection string or a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

from ops.errors import CruddurError

SCHEMES = ("postgresql", "postgres")
RDS_SUFFIX = ".rds.amazonaws.com"

# scheme://user:PASSWORD@  (greedy up to the last '@' before the path, so a raw '@' in a password is covered)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s/]*)(?P<at>@)")
# password=... in query strings and libpq key=value strings (quoted or not)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^&\s]+)", re.IGNORECASE)
# PASSWORD '...' in SQL text (pg_stat_activity can show ALTER ROLE statements)
_SQL_PASSWORD = re.compile(r"(?P<head>\bpassword\s+)(?P<pw>'(?:[^']|'')*')", re.IGNORECASE)

MASK = "***"


def redact(text: str | None) -> str:
    """Replace every password in URLs / DSNs / SQL inside ``text`` with ``***``.

    >>> redact("postgresql://app:s3cret@db:5432/cruddur")
    'postgresql://app:***@db:5432/cruddur'
    """
    if not text:
        return ""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", str(text))
    text = _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    return _SQL_PASSWORD.sub(lambda m: f"{m['head']}'{MASK}'", text)


def secrets_of(*urls: str | None) -> list[str]:
    """The passwords inside ``urls`` in every spelling they may be printed in (raw, %-encoded, +-encoded)."""
    found: list[str] = []
    for url in urls:
        if not url:
            continue
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        for candidate in _spellings(unquote(password) if password else None):
            if candidate not in found:
                found.append(candidate)
    return found


def _spellings(password: str | None) -> list[str]:
    if not password or len(password) < 3:  # never mask single letters all over the output
        return []
    return list(dict.fromkeys([password, quote(password, safe=""), quote_plus(password)]))


def scrub(text: object, *urls_or_secrets: str | None) -> str:
    """``redact`` plus removal of the given URLs' passwords (or literal secrets) anywhere in ``text``."""
    out = str(text)
    secrets: list[str] = []
    for item in urls_or_secrets:
        if not item:
            continue
        if "://" in item:
            secrets.extend(secrets_of(item))
        else:
            secrets.extend(_spellings(item))
    for secret in sorted(set(secrets), key=len, reverse=True):
        out = out.replace(secret, MASK)
    return redact(out)


@dataclass(frozen=True)
class ConnInfo:
    """The parts of a ``postgresql://`` URL (password kept, never shown: ``str()`` is redacted)."""

    user: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:  # pragma: no cover - safety net for accidental printing
        return redact(self.url)

    __repr__ = __str__

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def url(self) -> str:
        return build_url(self.user, self.password, self.host, self.port, self.database, **self.params)

    @property
    def is_rds(self) -> bool:
        return is_rds_host(self.host)


def parse(url: str) -> ConnInfo:
    """Parse a ``postgresql://`` URL. Errors never echo the URL's password."""
    if not url or not isinstance(url, str):
        raise CruddurError("no connection URL given")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise CruddurError(f"not a valid connection URL: {scrub(exc, url)} ({redact(url)})") from None
    if parts.scheme not in SCHEMES:
        raise CruddurError(f"not a PostgreSQL URL (expected postgresql://USER:PASSWORD@HOST:PORT/DB): {redact(url)}")
    database = unquote(parts.path[1:]) if parts.path.startswith("/") and len(parts.path) > 1 else None
    return ConnInfo(
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=port,
        database=database,
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
    )


def build_url(user, password, host, port, database, **query) -> str:
    """Assemble a URL, %-encoding user and password."""
    netloc = ""
    if user:
        netloc = quote(user, safe="")
        if password is not None:
            netloc += ":" + quote(password, safe="")
        netloc += "@"
    host_part = host or ""
    if ":" in host_part:  # IPv6 literal
        host_part = f"[{host_part}]"
    netloc += host_part
    if port:
        netloc += f":{port}"
    path = "/" + quote(database, safe="") if database else ""
    return urlunsplit(("postgresql", netloc, path, urlencode(query), ""))


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    info = parse(url)
    return build_url(info.user, info.password, info.host, info.port, database, **info.params)


def with_params(url: str, **params: str | None) -> str:
    """Set (or, with None, remove) query parameters."""
    info = parse(url)
    query = info.params
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return build_url(info.user, info.password, info.host, info.port, info.database, **query)


def without_password(url: str) -> str:
    info = parse(url)
    return build_url(info.user, None, info.host, info.port, info.database, **info.params)


def database_name(url: str) -> str:
    name = parse(url).database
    if not name:
        raise CruddurError(f"the connection URL names no database: {redact(url)}")
    return name


def is_rds_host(host: str | None) -> bool:
    return bool(host) and host.lower().rstrip(".").endswith(RDS_SUFFIX)
