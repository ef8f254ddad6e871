"""The restore drill's validation: is the copy AWS Backup just restored a usable Cruddur database?

Two entry points in one package (``components/restore_drill.py`` deploys it twice):

- ``report_handler`` (outside the VPC; EventBridge ``aws.backup`` "Restore Job State Change", status COMPLETED):
  describes the restore job, ignores any job not started by this stack's restore testing plan
  (``RESTORE_TESTING_PLAN_ARN``), finds the restored instance's endpoint (``rds:DescribeDBInstances``), reads the
  master secret's candidates (``MASTER_SECRET_ARN``; ``master_login.read_candidates``: its AWSCURRENT value, then its
  AWSPENDING and AWSPREVIOUS values where they exist), invokes the probe synchronously (``PROBE_FUNCTION_NAME``)
  with them, then reports the verdict with ``backup:PutRestoreValidationResult`` (AWS Backup deletes the copy once
  validated) and publishes it to the alarm topic (``ALARM_TOPIC_ARN``, optional). It runs outside the VPC so these
  AWS calls need no VPC endpoints.
- ``probe_handler`` (in the private subnets): makes NO AWS call (its role needs only network interfaces and logs;
  this path imports no AWS SDK). Its event, from the reporter::

      {"host": "...", "port": 5432, "dbname": "...", "restoreJobId": "...",
       "master_candidates": [{"stage": "AWSCURRENT", "username": "...", "password": "..."}, ...]}

  (a synchronous payload is not logged by Lambda, nor by this code). It connects to the RESTORED copy with TLS
  ``verify-full`` against the RDS CA bundle shipped beside this file, and checks:
    * the login: with the AWSCURRENT candidate; when the copy refuses that password (SQLSTATE 28P01) with the
      AWSPENDING, then the AWSPREVIOUS one (``master_login.login``, ``master_login.py`` shipped beside this file from
      ``lambda/shared``). A copy restored from a backup taken before the latest rotation has the password that is
      now AWSPREVIOUS; the log says which stage logged in;
    * the schema: the latest applied yoyo migration is ``EXPECTED_MIGRATION`` and ``EXPECTED_MIGRATION_COUNT``
      migrations are applied;
    * the data: ``users`` and ``activities`` exist and each holds at least ``MIN_ROWS`` rows (counted up to
      ``MIN_ROWS`` only, so a big table costs nothing).
  It returns ``{"status": "SUCCESSFUL" | "FAILED", "message": ...}``; it never raises for a bad copy (it raises, one
  line quoting no value, for an event that is not the reporter's).

Nothing here logs or returns a password; errors name the host, never the credentials.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import master_login  # lambda/shared/master_login.py, packaged beside this file
import psycopg2
from psycopg2 import sql

SUCCESSFUL = "SUCCESSFUL"
FAILED = "FAILED"
IGNORED = "IGNORED"
DEFAULT_CA_BUNDLE = Path(__file__).resolve().parent / "global-bundle.pem"
TABLES = ("users", "activities")
MIGRATION_TABLE = "_yoyo_migration"
MESSAGE_LIMIT = 1000
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 30000

logger = logging.getLogger("cruddur.restore_check")
logger.setLevel(logging.INFO)


class RestoreCheckError(Exception):
    """The function cannot do its job (bad event, missing configuration): raised, so Lambda reports it."""


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RestoreCheckError(f"environment variable {name} is not set")
    return value


# -- the checks (pure SQL; tested against a real PostgreSQL) ---------------------------------------------------------
def check_restored_copy(conn, expected_migration: str, expected_count: int, min_rows: int) -> list[str]:
    """Every problem with the restored copy, one line each; empty when it is a usable Cruddur database."""
    problems: list[str] = []
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{MIGRATION_TABLE}",))
        if not cur.fetchone()[0]:
            problems.append(f"no {MIGRATION_TABLE} table: the copy has no migration history")
        else:
            cur.execute(sql.SQL("SELECT count(*), max(migration_id) FROM {}").format(
                sql.Identifier(MIGRATION_TABLE)))
            count, latest = cur.fetchone()
            if latest != expected_migration:
                problems.append(f"latest applied migration is {latest!r}, expected {expected_migration!r}")
            if count != expected_count:
                problems.append(f"{count} migrations applied, expected {expected_count}")
        for table in TABLES:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
            if not cur.fetchone()[0]:
                problems.append(f"table {table} is missing")
                continue
            cur.execute(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) AS sample").format(
                sql.Identifier(table)), (max(min_rows, 1),))
            rows = cur.fetchone()[0]
            if rows < min_rows:
                problems.append(f"table {table} has {rows} rows, expected at least {min_rows}")
    conn.rollback()
    return problems


def connect_verify_full(host: str, port: int, dbname: str, user: str, password: str,
                        sslrootcert: str = str(DEFAULT_CA_BUNDLE)):
    """A read-only session on the restored copy, TLS verify-full against the RDS CA bundle."""
    return psycopg2.connect(host=host, port=port, dbname=dbname, user=user, password=password,
                            sslmode="verify-full", sslrootcert=sslrootcert, connect_timeout=CONNECT_TIMEOUT_S,
                            application_name="cruddur-restore-check",
                            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                                    "-c default_transaction_read_only=on")


def verdict(problems: list[str], target: dict) -> dict:
    where = f"{target.get('host')}:{target.get('port')}/{target.get('dbname')}"
    if problems:
        message = f"restored copy {where} FAILED: " + "; ".join(problems)
        return {"status": FAILED, "message": message[:MESSAGE_LIMIT]}
    return {"status": SUCCESSFUL, "message": f"restored copy {where}: schema and row counts as expected"}


# -- the probe (in the VPC) --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeConfig:
    expected_migration: str
    expected_count: int
    min_rows: int

    @classmethod
    def from_env(cls) -> ProbeConfig:
        try:
            return cls(expected_migration=_env("EXPECTED_MIGRATION"),
                       expected_count=int(_env("EXPECTED_MIGRATION_COUNT")), min_rows=int(_env("MIN_ROWS")))
        except ValueError as exc:
            raise RestoreCheckError(f"EXPECTED_MIGRATION_COUNT and MIN_ROWS must be whole numbers: {exc}") from exc


def probe(target: dict, config: ProbeConfig, connect: Callable = connect_verify_full) -> dict:
    """Check the restored copy at ``target`` ({host, port, dbname, master_candidates}: the reporter's event); returns
    the verdict, never raises for it."""
    if not isinstance(target, dict):
        raise RestoreCheckError(f"the probe's event must be a JSON object, got {type(target).__name__}")
    for key in ("host", "port", "dbname", "master_candidates"):
        if not target.get(key):
            raise RestoreCheckError(f"the probe's event lacks {key!r}")
    try:
        candidates = master_login.check_candidates(target["master_candidates"])
    except master_login.MalformedCandidates as exc:
        raise RestoreCheckError(f"the probe's event is wrong: {exc}") from None

    def login(value: dict):
        return connect(host=target["host"], port=int(target["port"]), dbname=target["dbname"],
                       user=value["username"], password=value["password"])

    try:
        conn = master_login.login(candidates, login, logger).connection
    except psycopg2.Error as exc:  # AWSCURRENT's error when no stage logs in; any other error as it came
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return verdict([f"cannot connect: {first_line}"], target)
    try:
        problems = check_restored_copy(conn, config.expected_migration, config.expected_count, config.min_rows)
    except psycopg2.Error as exc:
        problems = [f"check failed: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"]
    finally:
        conn.close()
    return verdict(problems, target)


def probe_handler(event: dict, context: Any) -> dict:
    result = probe(event, ProbeConfig.from_env())
    logger.info("restore check %s", result["status"], extra={"verdict": result})
    return result


# -- the reporter (outside the VPC) ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportConfig:
    plan_arn: str
    probe_function: str
    secret_arn: str  # the master secret, whose candidates the probe logs in with
    topic_arn: str  # empty: no notification (alarms off)
    stack: str

    @classmethod
    def from_env(cls) -> ReportConfig:
        return cls(plan_arn=_env("RESTORE_TESTING_PLAN_ARN"), probe_function=_env("PROBE_FUNCTION_NAME"),
                   secret_arn=_env("MASTER_SECRET_ARN"), topic_arn=os.environ.get("ALARM_TOPIC_ARN", ""), stack=_env("STACK"))


def invoke_probe_function(lambda_client, function_name: str) -> Callable[[dict, list[dict]], dict]:
    """``invoke(target, candidates) -> verdict``: the probe, synchronously, with the target and the master secret's
    candidates in its payload (never logged, never in the verdict)."""
    def invoke(target: dict, candidates: list[dict]) -> dict:
        response = lambda_client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                                        Payload=json.dumps({**target, "master_candidates": candidates}).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError") or not isinstance(payload, dict) or "status" not in payload:
            error = payload.get("errorMessage") if isinstance(payload, dict) else payload
            return {"status": FAILED, "message": f"the probe function failed: {error}"[:MESSAGE_LIMIT]}
        return payload
    return invoke


def report(event: dict, config: ReportConfig, backup_client, rds_client, sns_client, secrets_client,
           invoke_probe: Callable[[dict, list[dict]], dict]) -> dict:
    """Validate one completed restore job of this stack's drill and report the verdict to Backup and the topic."""
    job_id = (event.get("detail") or {}).get("restoreJobId") if isinstance(event, dict) else None
    if not job_id:
        raise RestoreCheckError("the event has no detail.restoreJobId: not an AWS Backup restore job event")
    job = backup_client.describe_restore_job(RestoreJobId=job_id)
    plan = (job.get("CreatedBy") or {}).get("RestoreTestingPlanArn")
    if plan != config.plan_arn or job.get("Status") != "COMPLETED":
        logger.info("restore job %s ignored (plan %s, status %s)", job_id, plan, job.get("Status"))
        return {"status": IGNORED, "restoreJobId": job_id}

    created = job.get("CreatedResourceArn") or ""
    identifier = created.split(":db:", 1)[1] if ":db:" in created else ""
    try:
        if not identifier:
            raise RestoreCheckError(f"the restore job created {created!r}, not an RDS DB instance")
        instance = rds_client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        target = {"host": instance["Endpoint"]["Address"], "port": instance["Endpoint"]["Port"],
                  "dbname": instance.get("DBName") or "", "restoreJobId": job_id}
        candidates = master_login.read_candidates(secrets_client, config.secret_arn, logger)
        result = invoke_probe(target, candidates)
    except Exception as exc:  # noqa: BLE001 - every failure is a FAILED verdict: Backup deletes the copy
        result = {"status": FAILED, "message": f"restored copy {identifier or created}: {exc}"[:MESSAGE_LIMIT]}

    backup_client.put_restore_validation_result(RestoreJobId=job_id, ValidationStatus=result["status"],
                                                ValidationStatusMessage=result["message"])
    if config.topic_arn:
        sns_client.publish(
            TopicArn=config.topic_arn,
            Subject=f"Cruddur {config.stack} restore drill: {result['status']}",
            Message=json.dumps({"stack": config.stack, "restoreJobId": job_id, "restoredInstance": identifier,
                                "status": result["status"], "message": result["message"]}, indent=2),
        )
    logger.info("restore job %s validated: %s", job_id, result["status"])
    return {**result, "restoreJobId": job_id}


def report_handler(event: dict, context: Any) -> dict:
    import boto3  # the Lambda runtime's; only the reporter (outside the VPC) calls AWS

    config = ReportConfig.from_env()
    return report(event, config, boto3.client("backup"), boto3.client("rds"), boto3.client("sns"),
                  boto3.client("secretsmanager"), invoke_probe_function(boto3.client("lambda"),
                                                                       config.probe_function))
