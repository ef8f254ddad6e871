"""`cruddur db ... -s STACK` through a master rotation (ops/stack/master_login.py reusing lambda/shared/master_login.py):
when the server refuses AWSCURRENT's password, the CLI tries AWSPENDING, then AWSPREVIOUS, once each, and says which
stage logged in; any other error is unchanged and reads no other stage; when none logs in, the original one line.

Against a REAL PostgreSQL (its own cluster) behind a TLS front with a test CA's certificate for the stack's RDS host
name (the embedded PostgreSQL has no TLS), reached like RDS through the operator tunnel (--tunnel-port: hostaddr
127.0.0.1, verify-full still checks the RDS name), with the master secret in moto's Secrets Manager."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import socket
import ssl
import struct
import threading
from pathlib import Path

import psycopg2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ops.local.server import LocalServer, free_port
from ops.stack import secrets as stack_secrets
from tests.conftest import server_dir
from tests.ops.conftest import FAKE_STACK_PASSWORD, MASTER_USER, RECORDED_OUTPUTS, rds_secret

REGION = "eu-west-1"
HOST = json.loads(RECORDED_OUTPUTS.read_text())["dbHost"]  # the dev stack's RDS host name, in the certificate
PENDING_PASSWORD = "Pending-Master-Passw0rd~v2"
NEWER_PASSWORD = "Newer-Master-Passw0rd~v3"
WRONG_PASSWORD = "Nobody-Has-This-Passw0rd~x"


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool, san: str | None = None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


SSL_REQUEST = 80877103  # the PostgreSQL protocol's SSLRequest code
GSSENC_REQUEST = 80877104


class TlsFront:
    """What RDS looks like through the operator tunnel: PostgreSQL's TLS (the SSLRequest, then a handshake with a
    certificate for HOST) on 127.0.0.1:port, in front of a real cluster that has no TLS of its own (the suite's
    embedded PostgreSQL is built without OpenSSL). Each client connection is relayed, decrypted, to the cluster."""

    def __init__(self, upstream_port: int, cert_file: Path, key_file: Path):
        self.upstream_port = upstream_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            while True:  # libpq may ask for GSS encryption first: refuse it, then expect the SSLRequest
                head = _read_exactly(client, 8)
                length, code = struct.unpack("!ii", head)
                if length == 8 and code == GSSENC_REQUEST:
                    client.sendall(b"N")
                    continue
                break
            if length != 8 or code != SSL_REQUEST:  # a client without TLS: RDS (rds.force_ssl) refuses it too
                client.close()
                return
            client.sendall(b"S")
            secure = self.context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError, struct.error):
            client.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=_pump, args=(upstream, secure), daemon=True).start()
        _pump(secure, upstream)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except (OSError, ssl.SSLError):
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture(scope="module")
def tls_server():
    """A cluster of its own (the master role and the database cruddur on it) behind a TLS front with a certificate
    for HOST signed by a test CA; yields (server, front port, ca_file, other_ca_file)."""
    root = server_dir("cruddur-tls-")
    server = LocalServer(root, free_port(), durable=False)
    server.ensure_running()
    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("cruddur test CA", ca_key, None, None, ca=True)
    other_ca = _certificate("some other CA", other_key, None, None, ca=True)
    cert = _certificate(HOST, server_key, ca.subject, ca_key, ca=False, san=HOST)
    (root / "server.crt").write_bytes(_pem(cert))
    (root / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    (root / "ca.pem").write_bytes(_pem(ca))
    (root / "other-ca.pem").write_bytes(_pem(other_ca))
    front = TlsFront(server.port, root / "server.crt", root / "server.key")
    conn = psycopg2.connect(server.admin_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {MASTER_USER} LOGIN SUPERUSER")
        cur.execute("CREATE DATABASE cruddur")
    conn.close()
    try:
        yield server, front.port, root / "ca.pem", root / "other-ca.pem"
    finally:
        front.close()
        server.destroy()
        shutil.rmtree(root, ignore_errors=True)


def set_master_password(server: LocalServer, password: str) -> None:
    """What the rotation's setSecret (or a restore) leaves on the database: the master's password."""
    conn = psycopg2.connect(server.admin_url("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {MASTER_USER} PASSWORD %s", (password,))
    conn.close()


@pytest.fixture
def stages_read(monkeypatch) -> list[str]:
    """The VersionStage of every GetSecretValue the CLI sends (the real moto-backed client, recorded)."""
    asked: list[str] = []
    real = stack_secrets.client

    def recording(region: str):
        client = real(region)
        client.meta.events.register("provide-client-params.secrets-manager.GetSecretValue",
                                    lambda params, **_: asked.append(params.get("VersionStage")))
        return client

    monkeypatch.setattr(stack_secrets, "client", recording)
    return asked


@pytest.fixture
def stack(tls_server, fake_pulumi, aws_secrets, secrets, stages_read):
    """The dev stack's database is the TLS server (through the tunnel); returns a runner of `cruddur db ... -s dev`."""
    import boto3

    server, front_port, ca_file, other_ca = tls_server
    secrets.extend([PENDING_PASSWORD, NEWER_PASSWORD, WRONG_PASSWORD])
    sm = boto3.client("secretsmanager", region_name=REGION)
    arn = aws_secrets[("dev", "master")]

    def put(password: str, *stages: str) -> None:
        kwargs = {"VersionStages": list(stages)} if stages else {}
        sm.put_secret_value(SecretId=arn, SecretString=rds_secret("dev", MASTER_USER, password), **kwargs)

    def run(cli, *args: str, ca=ca_file, port: int | None = None):
        return cli("db", *args, "-s", "dev", "--tunnel-port", str(port or front_port), env={"PGSSLROOTCERT": str(ca)})

    run.server, run.port, run.put, run.ca, run.other_ca = server, front_port, put, ca_file, other_ca
    return run


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr


# ------------------------------------------------------------------ a fallback stage logs in, and says so
def test_mid_rotation_the_pending_password_logs_in_and_the_stage_is_named(cli, stack, stages_read):
    """setSecret has run (the database has AWSPENDING's password), finishSecret has not (AWSCURRENT is the old one)."""
    stack.put(PENDING_PASSWORD, "AWSPENDING")
    set_master_password(stack.server, PENDING_PASSWORD)
    result = stack(cli, "status")
    assert result.exit_code == 0, result.output
    assert f"postgresql://{MASTER_USER}:***@{HOST}:5432/cruddur?sslmode=verify-full (stack dev) via tunnel " \
           f"127.0.0.1:{stack.port}" in result.stdout
    assert re.search(r"migrations +\d+ applied", result.stdout), result.stdout
    # one line, once, although status connects three times; the URL redacted, no password (the cli fixture checks)
    assert result.stderr == (f"note: postgresql://{MASTER_USER}:***@{HOST}:5432/cruddur?sslmode=verify-full (database "
                             "postgres) refused the master secret's AWSCURRENT password; logged in with its AWSPENDING "
                             "version (a rotation is in progress (between setSecret and finishSecret): AWSCURRENT works "
                             "again once it finishes)\n")
    assert stages_read == ["AWSCURRENT", "AWSPENDING"]  # walked once; later connections reuse the stage that worked


def test_a_restored_copy_takes_the_previous_password_for_every_command(cli, stack, stages_read):
    """The database came back from a snapshot taken before the last rotation: only AWSPREVIOUS logs in. `db migrate`
    (its own connections, under the migration lock) gets the fallback too, not only `status`."""
    stack.put(NEWER_PASSWORD)  # the rotation finished: NEWER is AWSCURRENT, the recorded password AWSPREVIOUS
    set_master_password(stack.server, FAKE_STACK_PASSWORD)
    result = stack(cli, "migrate")
    assert result.exit_code == 0, result.output
    assert "applied" in result.stdout
    # (yoyo may print a DeprecationWarning on stderr the first time a worker migrates: count the note lines only)
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "logged in with its AWSPREVIOUS version (the database predates the last rotation" \
        in notes[0], result.stderr
    assert stages_read == ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]  # no AWSPENDING version: skipped quietly
    sessions = stack(cli, "sessions")
    assert sessions.exit_code == 0 and "other session(s)" in sessions.stdout and "AWSPREVIOUS" in sessions.stderr


def test_db_connect_hands_psql_the_stage_that_logged_in(stack, aws_secrets, monkeypatch):
    """`db connect` execs psql with dsn_params(target): after the fallback, the AWSPENDING user and password."""
    from ops.cli.targets import resolve
    from ops.db.connections import connect, dsn_params

    stack.put(PENDING_PASSWORD, "AWSPENDING")
    set_master_password(stack.server, PENDING_PASSWORD)
    monkeypatch.setenv("PGSSLROOTCERT", str(stack.ca))
    target = resolve(stack="dev", tunnel_port=stack.port).db
    assert dsn_params(target)["password"] == FAKE_STACK_PASSWORD  # before any login: AWSCURRENT's
    conn = connect(target)
    assert conn.info.ssl_in_use and conn.info.ssl_attribute("protocol").startswith("TLS")  # verify-full, through TLS
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (MASTER_USER,)
    conn.close()
    params = dsn_params(target)
    assert (params["user"], params["password"], params["sslmode"], params["host"], params["hostaddr"]) == (
        MASTER_USER, PENDING_PASSWORD, "verify-full", HOST, "127.0.0.1")
    assert target.rotation.stage == "AWSPENDING" and PENDING_PASSWORD not in repr(target)


def test_the_current_password_logs_in_without_reading_other_stages(cli, stack, stages_read):
    stack.put(PENDING_PASSWORD, "AWSPENDING")  # a rotation just started; the database still has AWSCURRENT's
    set_master_password(stack.server, FAKE_STACK_PASSWORD)
    result = stack(cli, "status")
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and stages_read == ["AWSCURRENT"]


# ------------------------------------------------------------------ nothing logs in, or another error: as before
def test_wrong_everywhere_gives_the_original_one_line_error(cli, stack, stages_read):
    set_master_password(stack.server, WRONG_PASSWORD)
    stack.put(NEWER_PASSWORD)  # AWSCURRENT NEWER, AWSPREVIOUS the recorded one
    stack.put(PENDING_PASSWORD, "AWSPENDING")
    line = one_error_line(stack(cli, "status"))
    expected = (f"error: cannot connect to postgresql://{MASTER_USER}:***@{HOST}:5432/cruddur?sslmode=verify-full "
                "(database postgres): authentication failed (wrong user or password)\n")
    assert line == expected
    assert stages_read == ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]


def test_other_errors_are_unchanged_and_walk_no_stage(cli, stack, stages_read):
    stack.put(PENDING_PASSWORD, "AWSPENDING")
    set_master_password(stack.server, PENDING_PASSWORD)  # AWSPENDING WOULD log in: the errors below come first
    closed = free_port()
    down = one_error_line(stack(cli, "status", port=closed))  # the tunnel is not open: the server is unreachable
    assert down.startswith(f"error: cannot connect to postgresql://{MASTER_USER}:***@{HOST}:5432/cruddur")
    assert down.endswith(f"connection refused: is the server running? (local: cruddur local up). Is the tunnel open "
                         f"on 127.0.0.1:{closed}?\n")
    assert stages_read == ["AWSCURRENT"]
    stages_read.clear()
    tls = one_error_line(stack(cli, "status", ca=stack.other_ca))  # a certificate our CA bundle does not trust
    assert "certificate verify failed" in tls and "AWSPENDING" not in tls
    assert stages_read == ["AWSCURRENT"]


def test_local_and_url_targets_have_no_rotation(cli, pg_server, migrated_database_url):
    from ops.cli.targets import resolve

    assert resolve(url=migrated_database_url).db.rotation is None
    wrong = migrated_database_url.replace(pg_server.password, WRONG_PASSWORD)
    result = cli("db", "status", "--url", wrong)
    assert one_error_line(result).endswith("authentication failed (wrong user or password)\n")



def test_the_cli_uses_the_lambdas_own_source_file():
    """ONE implementation: the CLI logs in with ``login`` and reads the other stages with ``read_fallbacks`` of
    lambda/shared/master_login.py, the file the migrator and the restore check carry (loaded by path, not copied)."""
    from ops.paths import PROJECT_ROOT
    from ops.stack import master_login as cli

    module = cli.shared()
    assert module.__file__ == str(cli.SHARED_SOURCE) == str(PROJECT_ROOT / "lambda" / "shared" / "master_login.py")
    assert module.login.__code__.co_filename == module.read_fallbacks.__code__.co_filename == module.__file__
