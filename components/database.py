"""``Database``: Cruddur's PostgreSQL on RDS, private, encrypted and audited.

- the master password from ``pulumi_random.RandomPassword`` (long, URL-safe), kept only in Pulumi secrets and in a
  Secrets Manager secret encrypted with the stack's KMS key, in the standard RDS JSON shape;
- a parameter group that forces TLS (``rds.force_ssl=1``), scram-sha-256 passwords and useful logging;
- a subnet group over the private subnets and a security group that admits the port only from named security
  groups (``allow_from``), never from a CIDR;
- the instance: not public, encrypted, deletion-protected with a final snapshot per stack settings, backups, IAM
  database authentication, log exports into pre-created encrypted log groups, enhanced monitoring, Performance
  Insights encrypted with the key, a non-default admin user and the current RDS CA.

Guards against losing the database (runbooks/upgrade-major.md):
- the instance, its secret and the secret's value carry Pulumi ``protect`` when the stack protects its stateful
  resources (``naming.protect``; always in prod);
- the final snapshot's name ends in a random suffix that is drawn again whenever the instance would be replaced
  (its keepers are the inputs that force a replacement), so a second teardown or a replacement never collides
  with a final snapshot that is already there; automated backups are kept when the instance goes;
- the parameter group is one per engine family: a major-version upgrade declares the new family's group (created
  first) and the instance moves to it through an RDS blue/green deployment; the old group goes last. The group of
  ``CURRENT_GROUP_FAMILY`` keeps its original logical name (``<name>-params``), every other family's is
  ``<name>-params-<family>``. Blue/green and ``allow_major_version_upgrade`` are on only while
  ``upgradeFromEngineVersion`` is set: every other change is applied in place, and a major change without that
  key is refused by RDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws_context import AwsContext
from components.iam import service_trust_policy, source_account, source_arn
from components.log_group import encrypted_log_group
from components.naming import Naming
from components.network import Network
from components.settings import DatabaseSettings
from components.sg_pair import admit, security_group

CA_CERT_IDENTIFIER = "rds-ca-rsa2048-g1"
LOG_EXPORTS = ("postgresql", "upgrade")
PASSWORD_LENGTH = 40
# Characters that need no escaping in a URL and that RDS accepts in a master password.
PASSWORD_SPECIALS = "-_"  # noqa: S105 - not a password: a marker/character set
# The family whose group was created under the original logical name "<name>-params" (tests/components/fixtures).
CURRENT_GROUP_FAMILY = "postgres17"
# Long-running RDS operations: a blue/green major upgrade creates, syncs and switches over a whole copy.
TIMEOUTS = pulumi.CustomTimeouts(create="2h", update="4h", delete="2h")
FINAL_SNAPSHOT_SUFFIX_BYTES = 4
PARAMETERS = {
    "rds.force_ssl": "1",
    "password_encryption": "scram-sha-256",
    "log_min_duration_statement": "500",
    "log_statement": "ddl",
    "log_connections": "1",
    "log_disconnections": "1",
    "log_lock_waits": "1",
}
# Static parameters: they take effect at the next reboot. Blue/green major upgrades replicate logically from the
# current (blue) instance, which needs rds.logical_replication on (runbooks/upgrade-major.md, "Before the window").
REBOOT_PARAMETERS = {
    "rds.logical_replication": "1",
}


ENGINE_LIFECYCLE_SUPPORT = "open-source-rds-extended-support-disabled"
BACKUP_WINDOW = "02:00-03:00"  # UTC, daily
MAINTENANCE_WINDOW = "sun:03:30-sun:04:30"  # UTC, weekly


def parameter_group_name(name: str, family: str) -> str:
    """The logical name of ``family``'s parameter group (the current family keeps the original name)."""
    return f"{name}-params" if family == CURRENT_GROUP_FAMILY else f"{name}-params-{family}"


def final_snapshot_identifier(identifier: str, suffix: str) -> str:
    """The final snapshot's name: ``<identifier>-final-<suffix>``, the suffix new for each instance."""
    return f"{identifier}-final-{suffix}"


@dataclass
class DatabaseArgs:
    database: DatabaseSettings
    naming: Naming
    aws_context: AwsContext
    log_retention_days: int  # the stack's, for the database's log groups
    network: Network
    kms_key_arn: pulumi.Input[str]


def generated_password(resource_name: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """A database password Pulumi draws once (``random.RandomPassword``: ``PASSWORD_LENGTH`` characters, at least
    two of each class, specials only from ``PASSWORD_SPECIALS``), as a secret."""
    password = random.RandomPassword(
        resource_name,
        length=PASSWORD_LENGTH,
        special=True,
        override_special=PASSWORD_SPECIALS,
        min_upper=2, min_lower=2, min_numeric=2,
        opts=opts,
    )
    return pulumi.Output.secret(password.result)


def credentials_secret(resource_name: str, naming: Naming, which: str, description: str,
                       kms_key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions) -> aws.secretsmanager.Secret:
    """The Secrets Manager secret of one database user's credentials (``naming.secret_name(which)``): encrypted with
    the data key, recoverable for 30 days in prod (7 elsewhere), protected like the database (``naming.stateful``)."""
    return aws.secretsmanager.Secret(
        resource_name,
        name=naming.secret_name(which),
        description=description,
        kms_key_id=kms_key_arn,
        recovery_window_in_days=30 if naming.is_prod else 7,
        opts=naming.stateful(opts),
    )


def rds_secret_json(instance: aws.rds.Instance, username: pulumi.Input[str], password: pulumi.Input[str],
                    dbname: str) -> pulumi.Output[str]:
    """The standard RDS secret JSON for one user of ``instance`` (what the rotations, the migrator and the CLI read),
    as a secret."""
    return pulumi.Output.secret(pulumi.Output.json_dumps({
        "engine": "postgres",
        "host": instance.address,
        "port": instance.port,
        "username": username,
        "password": password,
        "dbname": dbname,
        "dbInstanceIdentifier": instance.identifier,
    }))


def connection_url(username: str, password: str, host: str, port: int, dbname: str) -> str:
    """The libpq URL the app uses: TLS with certificate and host-name verification (verify-full).

    libpq reads the CA bundle from ``~/.postgresql/root.crt`` unless ``sslrootcert=PATH`` is appended;
    docs/deploy.md says where the RDS bundle comes from.
    """
    return (f"postgresql://{quote(username, safe='')}:{quote(password, safe='')}@{host}:{port}/"
            f"{quote(dbname, safe='')}?sslmode=verify-full")


class Database(pulumi.ComponentResource):
    instance: aws.rds.Instance
    security_group: aws.ec2.SecurityGroup
    secret: aws.secretsmanager.Secret
    connection_url: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:database:Database", name, None, opts)
        db, net, naming = args.database, args.network, args.naming
        name_of = naming.physical_name
        self._name = name
        self._port = db.port
        self.db_name = db.name  # the app's database (also the instance's db_name)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identifier = name_of("db")

        self._password = generated_password(f"{name}-master-password", child)
        stateful = naming.stateful(child)

        # One group per engine family, auto-named (never a fixed name), created before the old family's group is
        # deleted: Pulumi deletes the group the program no longer declares only after the instance has moved.
        self.parameter_group = aws.rds.ParameterGroup(
            parameter_group_name(name, db.family),
            family=db.family,
            description=f"Cruddur {naming.stack}: TLS only, scram-sha-256, DDL and slow-query logging",
            parameters=[{"name": k, "value": v} for k, v in PARAMETERS.items()]
            + [{"name": k, "value": v, "apply_method": "pending-reboot"} for k, v in REBOOT_PARAMETERS.items()],
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        self.subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            subnet_ids=[subnet.id for subnet in net.private_subnets],
            description=f"Cruddur {naming.stack}: private subnets only",
            opts=child,
        )
        self.security_group = security_group(
            f"{name}-sg", net.vpc.id, "Cruddur database: PostgreSQL from named security groups only", name_of("db"),
            child)
        self.allow_from("operator", net.operator_security_group, "operators through the Instance Connect Endpoint")

        self.log_groups = [
            encrypted_log_group(f"{name}-log-{export}", f"/aws/rds/instance/{identifier}/{export}",
                                args.log_retention_days, args.kms_key_arn, child)
            for export in LOG_EXPORTS
        ]

        monitoring_role_arn = None  # read replicas report through the same role (components/read_replicas.py)
        if db.monitoring_interval_seconds:
            monitoring_role = aws.iam.Role(
                f"{name}-monitoring-role",
                # Only RDS acting for this instance of this account may take it (against the confused deputy).
                assume_role_policy=service_trust_policy("monitoring.rds.amazonaws.com", invoke, [
                    source_account(args.aws_context.account_id),
                    source_arn(pulumi.Output.concat("arn:", args.aws_context.partition, ":rds:", args.aws_context.region,
                                                    ":", args.aws_context.account_id,
                                                    ":db:", identifier), "ArnLike")]),
                description="RDS enhanced monitoring for the Cruddur database",
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-monitoring-policy",
                role=monitoring_role.name,
                policy_arn=args.aws_context.managed_policy_arn("service-role/AmazonRDSEnhancedMonitoringRole"),
                opts=child,
            )
            monitoring_role_arn = monitoring_role.arn

        self.monitoring_role_arn = monitoring_role_arn
        final_snapshot = None
        if not db.skip_final_snapshot:
            # Drawn again whenever a keeper changes, i.e. whenever the instance itself would be replaced; a new
            # stack (after a teardown) draws a new one too. The final snapshot of the instance that goes keeps
            # the name the instance had.
            suffix = random.RandomId(
                f"{name}-final-snapshot-suffix",
                byte_length=FINAL_SNAPSHOT_SUFFIX_BYTES,
                keepers={
                    "identifier": identifier,
                    "engine": "postgres",
                    "db_name": db.name,
                    "username": db.master_username,
                    "kms_key_id": args.kms_key_arn,
                    "storage_encrypted": str(db.storage_encrypted).lower(),
                },
                opts=child,
            )
            final_snapshot = suffix.hex.apply(lambda hex_: final_snapshot_identifier(identifier, hex_))

        self.instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=identifier,
            engine="postgres",
            engine_version=db.engine_version,
            # Never slide into paid RDS Extended Support when the major reaches its end of standard support: RDS
            # upgrades it instead (runbooks/upgrade-major.md says how to do it first, on our own schedule).
            engine_lifecycle_support=ENGINE_LIFECYCLE_SUPPORT,
            instance_class=db.instance_class,
            db_name=db.name,
            username=db.master_username,
            password=self._password,
            port=db.port,
            storage_type="gp3",
            allocated_storage=db.allocated_storage_gb,
            max_allocated_storage=db.max_allocated_storage_gb,
            storage_encrypted=db.storage_encrypted,
            kms_key_id=args.kms_key_arn,
            publicly_accessible=db.publicly_accessible,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            parameter_group_name=self.parameter_group.name,
            multi_az=db.multi_az,
            deletion_protection=db.deletion_protection,
            skip_final_snapshot=db.skip_final_snapshot,
            final_snapshot_identifier=final_snapshot,
            delete_automated_backups=False,
            backup_retention_period=db.backup_retention_days,
            # On a run schedule (dev), both windows fall inside the run hours: a stopped instance is neither backed
            # up nor maintained (components/run_schedule.py).
            backup_window=db.run_schedule.backup_window if db.run_schedule else BACKUP_WINDOW,
            maintenance_window=db.run_schedule.maintenance_window if db.run_schedule else MAINTENANCE_WINDOW,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            # Only during a major upgrade (upgradeFromEngineVersion set): the change goes through a blue/green
            # deployment to the new family's parameter group; otherwise RDS refuses any major change.
            allow_major_version_upgrade=db.major_upgrade,
            blue_green_update={"enabled": db.major_upgrade},
            apply_immediately=not naming.is_prod,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            monitoring_interval=db.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role_arn,
            performance_insights_enabled=db.performance_insights,
            performance_insights_kms_key_id=args.kms_key_arn if db.performance_insights else None,
            performance_insights_retention_period=7 if db.performance_insights else None,
            ca_cert_identifier=CA_CERT_IDENTIFIER,
            tags={"Name": identifier},
            # The rotation function owns the password after creation (components/master_rotation.py).
            opts=naming.stateful(pulumi.ResourceOptions(parent=self, depends_on=self.log_groups,
                                                        custom_timeouts=TIMEOUTS, ignore_changes=["password"])),
        )

        self.secret = credentials_secret(
            f"{name}-master-secret", naming, "master",
            f"Cruddur {naming.stack}: RDS master credentials (standard RDS secret JSON)", args.kms_key_arn, child)
        aws.secretsmanager.SecretVersion(
            f"{name}-master-secret-value",
            secret_id=self.secret.id,
            secret_string=rds_secret_json(self.instance, self.instance.username, self._password, db.name),
            # The first version only: rotation writes the next ones, and Pulumi must never write an old password back.
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(ignore_changes=["secretString"])),
        )

        self.connection_url = pulumi.Output.secret(pulumi.Output.all(
            self.instance.username, self._password, self.instance.address, self.instance.port,
        ).apply(lambda v: connection_url(v[0], v[1], v[2], v[3], db.name)))

        self.register_outputs({
            "address": self.instance.address,
            "port": self.instance.port,
            "resource_id": self.instance.resource_id,
            "security_group_id": self.security_group.id,
            "secret_arn": self.secret.arn,
            "connection_url": self.connection_url,
        })

    def allow_from(self, part: str, source: aws.ec2.SecurityGroup, why: str) -> None:
        """Let ``source`` reach the database port: ingress on the database SG, egress on ``source``, both by SG id."""
        admit(self, self._name, part, self.security_group, source, self._port,
              ingress=f"PostgreSQL from {why}", egress="PostgreSQL to the Cruddur database only")
