"""Connection URLs: parse, rebuild, and redact. Every URL the CLI shows goes through ``redact``.

Use ``redact(url)`` for display and ``scrub(text, *urls)`` for any free text (driver errors, subprocess
output) that might echo a connection string or a password.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_to_bytes, urlencode, urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

from ops.errors import CruddurError

SCHEMES = ("postgresql", "postgres")
RDS_SUFFIX = ".rds.amazonaws.com"
RDS_SUFFIXES = (RDS_SUFFIX, ".rds.amazonaws.com.cn")  # AWS regions, and the China regions

# The libpq environment variables that fill a parameter the connection string leaves unset (libpq order:
# explicit parameters, then the service file's entries, then these, then libpq's defaults).
LIBPQ_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
             "service": "PGSERVICE"}
PERCENT_ENCODE_HINT = ("percent-encode special characters in the user name and password "
                       "(# as %23, ? as %3F, / as %2F, @ as %40, : as %3A, space as %20)")

# scheme://user:PASSWORD@  (greedy up to the last '@' before the path, so a raw '@' in a password is covered)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s/]*)(?P<at>@)")
# password=... in query strings and libpq key=value strings (quoted or not). The key may be percent-encoded in a URL
# query (``pass%77ord=``, ``%70assword=``), and so may the ``=`` (``password%3D``): a key counts when it reads
# ``password`` once decoded, whatever its case.
_KV = re.compile(r"(?P<key>[A-Za-z0-9%_.~+-]+)(?P<eq>\s*(?:=|%3[dD])\s*)(?P<pw>'(?:[^'\\]|\\.)*'?|[^&\s]+)")
# PASSWORD <literal> in SQL text (pg_stat_activity shows other sessions' CREATE/ALTER ROLE statements): the literal
# whatever its quoting, '...' (with '' inside), E'...' (with \' too), U&'...', $$...$$ or $tag$...$tag$, and to the
# end of the text when it is cut before the literal closes (pg_stat_activity shortens long statements). A quoted
# 'password' is prose naming the field, not the keyword.
_SQL_PASSWORD = re.compile(
    r"(?P<head>(?<!['\"])\bpassword(?:\s|/\*.*?\*/|--[^\n]*(?:\n|\Z))*)"
    r"(?P<pw>(?:[Ee]|[Uu]&)?'(?:[^'\\]|''|\\.)*(?:'|\Z)|(?P<tag>\$[A-Za-z_][A-Za-z_0-9]*\$|\$\$).*?(?:(?P=tag)|\Z))",
    re.IGNORECASE | re.DOTALL)

MASK = "***"


def mask_unparsable(text: str | None) -> str:
    """The masking used when a connection string could NOT be parsed: everything between ``://user:`` and the LAST
    ``@`` (or the end, when there is no ``@``), every ``password=`` value up to the next ``&`` (URL query) or the
    next ``key=`` (libpq key=value string), then ``redact``. Over-masks rather than guess where a password ends.

    >>> mask_unparsable("postgresql://app:pa/ss w#rd@db:5432/cruddur")
    'postgresql://app:***@db:5432/cruddur'
    """
    if not text:
        return ""
    text = str(text)
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", text)
    if scheme:
        rest = text[scheme.end():]
        colon = rest.find(":")
        if colon != -1 and not any(c in rest[:colon] for c in "/?@#"):  # ://user: -> mask up to the LAST '@'
            last_at = rest.rfind("@")
            head = text[: scheme.end() + colon + 1]
            text = head + MASK + (rest[last_at:] if last_at > colon else "")
    text = re.sub(r"(?is)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|.*?)(?=&|\s+[A-Za-z_]+\s*=|$)",
                  lambda m: f"{m[1]}{MASK}", text)
    return redact(text)


def redact(text: str | None) -> str:
    """Replace every password in URLs / DSNs / SQL inside ``text`` with ``***``.

    >>> redact("postgresql://app:s3cret@db:5432/cruddur")
    'postgresql://app:***@db:5432/cruddur'
    """
    if not text:
        return ""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", str(text))
    text = _KV.sub(_masked_value, text)
    return _SQL_PASSWORD.sub(lambda m: f"{m['head']}'{MASK}'", text)


def _masked_value(match: re.Match) -> str:
    """A ``key=value`` pair as shown: the value masked when the key, percent-decoded, is ``password``."""
    key = unquote(match["key"].replace("+", " "), errors="replace").strip().lower()
    return f"{match['key']}{match['eq']}{MASK}" if key == "password" else match[0]


def secrets_of(*urls: str | None) -> list[str]:
    """The passwords inside ``urls`` in every spelling they may be printed in (raw, %-encoded, +-encoded)."""
    found: list[str] = []
    for url in urls:
        if not url:
            continue
        candidates: list[str | None] = []
        try:
            password = urlsplit(url).password
            candidates.append(unquote(password) if password else None)
        except ValueError:
            pass
        with contextlib.suppress(psycopg2.Error):
            candidates.append(_libpq_parse(url).get("password"))
        scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^:@]*:", url)
        if scheme and "@" in url[scheme.end():]:  # raw text up to the last '@': a password with unencoded characters
            raw = url[scheme.end(): url.rfind("@")]
            candidates += [raw, unquote(raw)]
        for password in candidates:
            for candidate in _spellings(password):
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
    # What libpq will use: the URL as libpq parses it (query parameters override the authority part), then the
    # service file's entries and the PG* environment for what the URL leaves unset (read when the URL is parsed).
    explicit: tuple[tuple[str, str], ...] = ()
    effective: tuple[tuple[str, str], ...] = ()

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
    def libpq(self) -> dict[str, str]:
        """The keyword parameters libpq takes from the URL itself (no environment, no service file)."""
        return dict(self.explicit)

    @property
    def hosts(self) -> list[str]:
        """Every host libpq may connect to (``host`` may be a comma-separated list)."""
        return [h.strip() for h in dict(self.effective).get("host", "").split(",") if h.strip()]

    @property
    def rds_host(self) -> str | None:
        """The first RDS host among ``hosts`` (whatever ``hostaddr`` says: TLS and the real target are that host)."""
        return next((h for h in self.hosts if is_rds_host(h)), None)

    @property
    def is_rds(self) -> bool:
        """True when ANY host libpq may use is an RDS endpoint."""
        return self.rds_host is not None


def _invalid(url: str, reason: str) -> CruddurError:
    return CruddurError(f"not a valid connection URL ({reason}; {PERCENT_ENCODE_HINT}): {mask_unparsable(url)}")


def _libpq_parse(url: str) -> dict[str, str]:
    return psycopg2.extensions.parse_dsn(url)


def parse(url: str, environ: Mapping[str, str] | None = None) -> ConnInfo:
    """Parse a ``postgresql://`` URL the way libpq does. Errors never echo any part of the password: a URL that
    cannot be parsed unambiguously is refused, and shown with everything between ``://user:`` and the last ``@``
    masked. ``environ`` (default ``os.environ``) supplies what libpq would take from PG* variables / the service file.
    """
    if not url or not isinstance(url, str):
        raise CruddurError("no connection URL given")
    url = url.strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise CruddurError(
            f"not a PostgreSQL URL (expected postgresql://USER:PASSWORD@HOST:PORT/DB): {mask_unparsable(url)}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise _invalid(url, "it contains whitespace or a control character")
    try:  # as given (an argument's bytes that were not UTF-8) and once percent-decoded, libpq takes UTF-8 only
        unquote_to_bytes(url.encode("utf-8")).decode("utf-8")
    except UnicodeError:
        raise _invalid(url, "it holds bytes that are not UTF-8 text, as given or percent-decoded") from None
    if "#" in url:
        raise _invalid(url, "it contains '#'")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _invalid(url, "malformed host part") from None
    if "@" not in parts.netloc and "@" in url.split("://", 1)[1]:
        raise _invalid(url, "an '@' after the host part")
    try:
        port = parts.port
    except ValueError:
        raise _invalid(url, "the port is not a number from 1 to 65535") from None
    try:
        explicit = _libpq_parse(url)
    except psycopg2.Error:
        raise _invalid(url, "libpq cannot parse it") from None
    password = unquote(parts.password) if parts.password is not None else None
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "password" for k, _ in query) and (explicit.get("password") or None) != (password or None):
        raise _invalid(url, "the password is ambiguous")  # libpq and a URL parser disagree: refuse, never guess
    database = explicit.get("dbname") or None  # a query dbname overrides the path, as in libpq
    return ConnInfo(
        user=unquote(parts.username) if parts.username else None,
        password=password,
        host=parts.hostname,
        port=port,
        database=database,
        query=tuple(query),
        explicit=tuple(sorted(explicit.items())),
        effective=tuple(sorted(effective_params(explicit, environ).items())),
    )


def effective_params(explicit: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """libpq's view of a connection: ``explicit`` parameters, then the named service's entries (``service=`` or
    ``PGSERVICE``, from ``PGSERVICEFILE`` or ``~/.pg_service.conf``, then ``$PGSYSCONFDIR/pg_service.conf``), then
    the PG* environment variables, for every parameter still unset."""
    env = os.environ if environ is None else environ
    params = {k: v for k, v in explicit.items() if v != ""}
    service = params.get("service") or env.get("PGSERVICE")
    if service:
        for key, value in _service_entries(service, env).items():
            params.setdefault(key, value)
    for key, var in LIBPQ_ENV.items():
        if env.get(var):
            params.setdefault(key, env[var])
    return params


def _service_entries(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The named service's entries, read as libpq reads a service file (``parseServiceFile``): the user's file
    (``PGSERVICEFILE`` or ``~/.pg_service.conf``), and only when the service is not there, ``$PGSYSCONFDIR/
    pg_service.conf``; lines stripped at both ends (indentation is no continuation), ``#`` lines and blank lines
    skipped, the FIRST ``[service]`` section only, ``key=value`` split at the first ``=`` with nothing trimmed, the
    FIRST value of a key kept. What libpq would refuse (a line without ``=``, a key that is not a libpq keyword, a
    nested ``service``), or a file that cannot be read as text, is refused here, before any connection."""
    files = [Path(env["PGSERVICEFILE"]) if env.get("PGSERVICEFILE") else Path.home() / ".pg_service.conf"]
    if env.get("PGSYSCONFDIR"):
        files.append(Path(env["PGSYSCONFDIR"]) / "pg_service.conf")
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
            raise CruddurError(f"cannot read the service file {path} for service {service!r}: {reason}") from None
        entries = _service_section(text, service, path)
        if entries is not None:
            return entries
    raise CruddurError(f"service {service!r} is not defined in {' or '.join(str(p) for p in files)} (libpq would "
                       "refuse to connect)")


def _service_section(text: str, service: str, path: Path) -> dict[str, str] | None:
    """The first ``[service]`` section of a service file's ``text`` (None when there is none)."""
    entries: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if entries is not None:
                break  # the end of the first section of that name: libpq reads no further
            if line[1:].startswith(service) and line[1 + len(service):2 + len(service)] == "]":
                entries = {}
            continue
        if entries is None:
            continue
        key, equals, value = line.partition("=")
        where = f"the service file {path}, line {number} (service {service!r})"
        if not equals:
            raise CruddurError(f"{where} has no key=value; libpq refuses it: fix the line")
        if key == "service":
            raise CruddurError(f"{where} names another service; libpq refuses nested services")
        try:
            if not re.fullmatch(r"[a-z_]+", key):
                raise psycopg2.ProgrammingError(key)
            psycopg2.extensions.parse_dsn(f"{key}=''")
        except psycopg2.Error:
            raise CruddurError(f"{where}: {key!r} is not a libpq keyword (libpq takes key=value with no spaces around "
                               "the '=' and lower-case keywords); fix the line") from None
        entries.setdefault(key, value)
    return entries


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
    return urlunsplit(("postgresql", netloc, path, urlencode(query, quote_via=quote), ""))


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    info = parse(url)
    params = {k: v for k, v in info.params.items() if k != "dbname"}  # a query dbname would override the path
    return build_url(info.user, info.password, info.host, info.port, database, **params)


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


# <id>.<hash>.<region>.rds.amazonaws.com, and the China regions' <id>.<hash>.rds.cn-north-1.amazonaws.com.cn
_RDS_REGIONAL = re.compile(r"\.rds\.[a-z]{2}(?:-[a-z]+)+-\d+\.amazonaws\.com(?:\.cn)?$")


def is_rds_host(host: str | None) -> bool:
    """An Amazon RDS endpoint name: ``*.rds.amazonaws.com``, ``*.rds.amazonaws.com.cn`` or
    ``*.rds.<region>.amazonaws.com[.cn]`` (China regions), any case, with or without a final dot."""
    if not host:
        return False
    name = host.strip().lower().rstrip(".")
    return name.endswith(RDS_SUFFIXES) or bool(_RDS_REGIONAL.search(name))
