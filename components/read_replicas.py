"""``ReadReplicas``: streaming read replicas of the database (``readReplicas``), with every practice the primary has.

Each replica (``cruddur-<stack>-db-replica-<n>``) is an RDS instance with ``replicate_source_db`` = the primary:

- in the database's subnet group (the private subnets, no route out) and its security group (so every client the
  primary admits reaches the replicas on the same port, and nothing else does), never public;
- in an AZ other than the primary's where the stack has one (``replica_zones``: round-robin over the others), so a
  zone outage takes the primary or the readers, not both; the zone is chosen once, at creation (a later Multi-AZ
  failover moves the primary, and must not replace a replica);
- encrypted with the stack's data key (a same-region replica of an encrypted instance is encrypted with the source's
  key), on the primary's parameter group (``rds.force_ssl=1``: TLS only), IAM database authentication on, the
  current RDS CA, minor versions applied automatically;
- deletion-protected and Pulumi-protected as the primary is (prod: always), its PostgreSQL and upgrade logs
  exported to encrypted log groups kept for the stack's retention, Enhanced Monitoring through the primary's
  monitoring role and Performance Insights (encrypted with the data key) where the primary has them;
- no backups and no final snapshot of its own: a replica's data is its source's, which the primary's backups, final
  snapshot and restore drill keep. The ``ReplicaLag`` alarm of each is in ``Monitoring`` (components/monitoring.py).

RDS has no reader endpoint for instance replicas (only Aurora clusters have one): ``endpoints`` lists each replica's
address and ``reader_host`` is the first one, which ``readerEndpoint`` exports and ``cruddur stack env`` turns into
``READER_CONNECTION_URL`` (docs/scaling.md says how to spread reads over several).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.database import CA_CERT_IDENTIFIER, LOG_EXPORTS, MAINTENANCE_WINDOW, Database
from components.log_group import encrypted_log_group
from components.naming import Naming
from components.settings import DatabaseSettings

# Long-running RDS operations: a replica is created from a snapshot of the primary and catches up before it is ready.
TIMEOUTS = pulumi.CustomTimeouts(create="2h", update="2h", delete="1h")


def replica_identifier(naming: Naming, number: int) -> str:
    """The physical name of replica ``number`` (from 1): ``cruddur-<stack>-db-replica-<n>``."""
    return naming.physical_name(f"db-replica-{number}")


def replica_zones(zones: Sequence[str], primary_zone: str | None, count: int) -> list[str]:
    """The AZ of each replica: round-robin over the stack's zones other than the primary's (all of them when the
    primary's is the only one)."""
    others = [zone for zone in zones if zone != primary_zone] or list(zones)
    if not others:
        raise ValueError("the stack has no availability zone to put a read replica in")
    return [others[index % len(others)] for index in range(count)]


@dataclass
class ReadReplicasArgs:
    database: DatabaseSettings  # readReplicas, the replicas' class, the primary's monitoring and protections
    naming: Naming
    primary: Database  # the source: its identifier, subnet group, security group, parameter group, monitoring role
    zones: pulumi.Input[Sequence[str]]  # the AZ names of the private subnets
    kms_key_arn: pulumi.Input[str]  # the data key (storage, Performance Insights, log groups)
    log_retention_days: int


class ReadReplicas(pulumi.ComponentResource):
    instances: list[aws.rds.Instance]
    identifiers: list[str]  # known when declared: the alarms and the dashboard name them
    endpoints: pulumi.Output[list[str]]
    reader_host: pulumi.Output[str]

    def __init__(self, name: str, args: ReadReplicasArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:read_replicas:ReadReplicas", name, None, opts)
        db, naming, primary = args.database, args.naming, args.primary
        if db.read_replicas < 1:
            raise ValueError("ReadReplicas needs readReplicas of at least 1")
        child = pulumi.ResourceOptions(parent=self)
        zones = pulumi.Output.all(args.zones, primary.instance.availability_zone).apply(
            lambda v: replica_zones(v[0], v[1], db.read_replicas))

        self.instances, self.identifiers = [], []
        for number in range(1, db.read_replicas + 1):
            identifier = replica_identifier(naming, number)
            log_groups = [
                encrypted_log_group(f"{name}-{number}-log-{export}", f"/aws/rds/instance/{identifier}/{export}",
                                    args.log_retention_days, args.kms_key_arn, child)
                for export in LOG_EXPORTS
            ]
            self.identifiers.append(identifier)
            self.instances.append(aws.rds.Instance(
                f"{name}-{number}",
                identifier=identifier,
                replicate_source_db=primary.instance.identifier,
                instance_class=db.replica_class,
                storage_type="gp3",
                max_allocated_storage=db.max_allocated_storage_gb,
                storage_encrypted=db.storage_encrypted,
                kms_key_id=args.kms_key_arn,
                publicly_accessible=db.publicly_accessible,
                db_subnet_group_name=primary.subnet_group.name,
                vpc_security_group_ids=[primary.security_group.id],
                parameter_group_name=primary.parameter_group.name,
                availability_zone=zones.apply(lambda all_zones, i=number - 1: all_zones[i]),
                multi_az=False,
                deletion_protection=db.deletion_protection,
                # The source's backups and final snapshot hold this data (see the module docstring).
                backup_retention_period=0,
                skip_final_snapshot=True,
                maintenance_window=MAINTENANCE_WINDOW,
                auto_minor_version_upgrade=True,
                apply_immediately=not naming.is_prod,
                iam_database_authentication_enabled=True,
                enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
                monitoring_interval=db.monitoring_interval_seconds,
                monitoring_role_arn=primary.monitoring_role_arn,
                performance_insights_enabled=db.performance_insights,
                performance_insights_kms_key_id=args.kms_key_arn if db.performance_insights else None,
                performance_insights_retention_period=7 if db.performance_insights else None,
                ca_cert_identifier=CA_CERT_IDENTIFIER,
                copy_tags_to_snapshot=True,
                tags={"Name": identifier},
                # Protected like the primary (prod: always): removing a replica is a deliberate, two-step change
                # (runbooks/promote-replica.md).
                opts=naming.stateful(pulumi.ResourceOptions(parent=self, depends_on=log_groups,
                                                            custom_timeouts=TIMEOUTS,
                                                            ignore_changes=["availabilityZone"])),
            ))
        self.endpoints = pulumi.Output.all(*[replica.address for replica in self.instances])
        self.reader_host = self.instances[0].address
        self.register_outputs({"endpoints": self.endpoints, "reader_host": self.reader_host})
