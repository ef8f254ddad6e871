"""``AppAccess``: the Cruddur backend's own credentials and network path to the database, never the master's.

- a generated password for ``cruddur_app`` (``pulumi_random.RandomPassword``, long and URL-safe like the master's),
  kept only in Pulumi secrets and in the Secrets Manager secret ``cruddur/<stack>/rds/app``, encrypted with the
  stack's KMS key, in the standard RDS JSON shape (the migrator sets the role's password from it);
- a client security group for the app (exported as ``appSecurityGroupId``): attach it to the backend's task or
  instance; the database admits it SG to SG on the database port only (``Database.allow_from``), and it may send
  nothing but PostgreSQL to the database;
- the optional ``appSecurityGroupIds`` (existing ``sg-`` ids, never CIDRs): the database admits each on its port.
  Those groups belong to someone else, so only the database's ingress is managed here; their egress is theirs;
- ``connection_url``: ``postgresql://cruddur_app:<password>@host:port/db?sslmode=verify-full`` (a secret): the FIRST
  value only. The secret rotates every ``appPasswordRotationDays`` with alternating users (``cruddur_app`` and
  ``cruddur_app_clone``, components/master_rotation.py ``AppRotation``); after the first rotation the current
  credentials are the secret's AWSCURRENT value, never this output.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.database import Database, connection_url, credentials_secret, generated_password, rds_secret_json
from components.naming import Naming
from components.settings import AppAccessSettings
from components.sg_pair import security_group

APP_ROLE = "cruddur_app"


@dataclass
class AppAccessArgs:
    settings: AppAccessSettings  # appSecurityGroupIds: existing groups (validated sg- ids) the database admits too
    naming: Naming
    database: Database
    db_name: str
    db_port: int
    vpc_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


class AppAccess(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    secret: aws.secretsmanager.Secret
    secret_version: aws.secretsmanager.SecretVersion
    connection_url: pulumi.Output[str]

    def __init__(self, name: str, args: AppAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:app_access:AppAccess", name, None, opts)
        naming, db = args.naming, args.database
        child = pulumi.ResourceOptions(parent=self)

        secret_password = generated_password(f"{name}-password", child)

        # protected like the master secret (prod's pack rule prod-stateful-protected)
        self.secret = credentials_secret(
            f"{name}-secret", naming, "app",
            f"Cruddur {naming.stack}: the app's database credentials ({APP_ROLE}, standard RDS JSON)", args.kms_key_arn,
            child)
        self.secret_version = aws.secretsmanager.SecretVersion(
            f"{name}-secret-value",
            secret_id=self.secret.id,
            secret_string=rds_secret_json(db.instance, APP_ROLE, secret_password, args.db_name),
            # The first version only: rotation (alternating users, components/master_rotation.py AppRotation) writes
            # the next ones, and Pulumi must never write an old password or user back.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["secretString"]),
        )

        self.security_group = security_group(
            f"{name}-sg", args.vpc_id, "Cruddur backend: attach to the app; egress to the database port only",
            naming.physical_name("app"), child)
        db.allow_from("app", self.security_group, "the Cruddur backend (appSecurityGroupId)")
        for sg_id in dict.fromkeys(args.settings.security_group_ids):  # a repeated id is admitted once
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-db-in-from-{sg_id}",
                security_group_id=db.security_group.id,
                referenced_security_group_id=sg_id,
                ip_protocol="tcp", from_port=args.db_port, to_port=args.db_port,
                description="PostgreSQL from an existing app security group (appSecurityGroupIds)",
                opts=child,
            )

        self.connection_url = pulumi.Output.secret(pulumi.Output.all(
            secret_password, db.instance.address, db.instance.port,
        ).apply(lambda v: connection_url(APP_ROLE, v[0], v[1], v[2], args.db_name)))

        self.register_outputs({
            "security_group_id": self.security_group.id,
            "secret_arn": self.secret.arn,
            "connection_url": self.connection_url,
        })
