"""A deployed dev stack for ``cruddur stack check``, built in moto: the instance (encrypted with the stack's key,
private subnets, the TLS-only parameter group), its security groups, both secrets rotated, the user pool and its
trigger, the trail, GuardDuty with RDS Protection, the alarms and their topic, the budget; and the outputs
``pulumi up`` would export for it. Where moto lacks an API or a field, ``stub`` gives a client answering with
botocore's Stubber, whose responses botocore validates against the service's own model (the shapes of the AWS API
reference pages named at each use)."""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from ops.stack.check.context import Context, load_settings
from ops.stack.check.result import Result
from ops.stack.check.runner import run
from ops.stack.check.schema import migrations_sha256

REGION = "eu-west-1"
STACK = "dev"
INSTANCE = "cruddur-dev-db"
PARAMETER_GROUP = "cruddur-dev-db-postgres17"
FUNCTIONS = {"confirmationFunctionName": "cruddur-dev-post-confirmation-3f9a1c2",
             "migratorFunctionName": "cruddur-dev-migrator",
             "masterRotationFunctionName": "cruddur-dev-master-rotation",
             "appRotationFunctionName": "cruddur-dev-app-rotation"}
MASTER_PASSWORD = "Check-Master-Passw0rd~one"
APP_PASSWORD = "Check-App-Passw0rd~one"


@functools.cache
def settings():
    """The dev stack's settings, read from this checkout's Pulumi.yaml and Pulumi.dev.yaml."""
    return load_settings(STACK)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def client(service: str, region: str = REGION):
    import boto3

    return boto3.client(service, region_name="us-east-1" if service == "budgets" else region)


def stub(service: str, *calls: tuple[str, dict[str, Any]]):
    """A client of ``service`` whose calls answer ``calls`` in order: (operation, response) or (operation,
    ClientError code). The Stubber checks each response against botocore's model of the API."""
    from botocore.stub import Stubber

    stubbed = client(service)
    stubber = Stubber(stubbed)
    for operation, response in calls:
        if isinstance(response, str):
            stubber.add_client_error(operation, service_error_code=response,
                                     http_status_code=403 if "Denied" in response else 400)
        else:
            stubber.add_response(operation, response)
    stubber.activate()
    return stubbed


def rds_secret(username: str, password: str, host: str = f"{INSTANCE}.c9akciq32xyz.{REGION}.rds.amazonaws.com",
               port: int = 5432, dbname: str = "cruddur") -> str:
    return json.dumps({"engine": "postgres", "host": host, "port": port, "username": username, "password": password,
                       "dbname": dbname, "dbInstanceIdentifier": INSTANCE})


@dataclass
class AwsStack:
    outputs: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)

    def context(self, *, clients: dict[str, Any] | None = None, reach=None, at: datetime.datetime | None = None,
                **outputs: Any) -> Context:
        """A check context on this stack; ``outputs`` replace (None: remove) outputs."""
        values = {k: v for k, v in {**self.outputs, **outputs}.items() if v is not None}
        return Context(STACK, values, settings=settings(), reach=reach, clients=dict(clients or {}),
                       now=(lambda: at) if at else now)

    def described(self) -> dict[str, Any]:
        """moto's DescribeDBInstances answer for the instance (the start of a stubbed one)."""
        answer = client("rds").describe_db_instances(DBInstanceIdentifier=INSTANCE)
        answer.pop("ResponseMetadata", None)
        return answer


def judge(ctx: Context, check) -> Result:
    (result,) = run(ctx, [check])
    return result


def put_secret(arn: str, text: str, secrets=None) -> None:
    """A rotation as Secrets Manager records it (LastRotatedDate, a new AWSCURRENT version), holding ``text``."""
    secrets = secrets or client("secretsmanager")
    secrets.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30})
    secrets.put_secret_value(SecretId=arn, SecretString=text)


def build() -> AwsStack:
    """The healthy dev stack in moto (call inside moto)."""
    s = settings()
    made: dict[str, Any] = {}

    def aws(service: str):  # one client per service (making one costs more than most calls)
        if service not in made:
            made[service] = client(service)
        return made[service]

    key = aws("kms").create_key(Description="Cruddur dev data")["KeyMetadata"]["Arn"]
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")
               ["Subnet"]["SubnetId"] for i, zone in ((1, "a"), (2, "b"))]
    groups = {name: ec2.create_security_group(GroupName=f"cruddur-dev-{name}", Description=name, VpcId=vpc)["GroupId"]
              for name in ("db", "app", "operator")}
    ec2.authorize_security_group_ingress(GroupId=groups["db"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": groups["app"]}, {"GroupId": groups["operator"]}]}])
    rds = aws("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="cruddur-dev-db", DBSubnetGroupDescription="db", SubnetIds=subnets)
    rds.create_db_parameter_group(DBParameterGroupName=PARAMETER_GROUP, DBParameterGroupFamily="postgres17",
                                  Description="TLS only")
    rds.modify_db_parameter_group(DBParameterGroupName=PARAMETER_GROUP, Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"}])
    rds.create_db_instance(
        DBInstanceIdentifier=INSTANCE, DBInstanceClass=s.database.instance_class, Engine="postgres",
        EngineVersion="17.4", AllocatedStorage=20, DBName="cruddur", MasterUsername="cruddur_admin",
        MasterUserPassword=MASTER_PASSWORD, StorageEncrypted=True, KmsKeyId=key, PubliclyAccessible=False,
        DeletionProtection=s.database.deletion_protection, BackupRetentionPeriod=s.database.backup_retention_days,
        DBParameterGroupName=PARAMETER_GROUP, EnableIAMDatabaseAuthentication=True, MultiAZ=s.database.multi_az,
        VpcSecurityGroupIds=[groups["db"]], DBSubnetGroupName="cruddur-dev-db")
    secrets = aws("secretsmanager")
    arns = {}
    for kind, user, password in (("master", "cruddur_admin", MASTER_PASSWORD), ("app", "cruddur_app", APP_PASSWORD)):
        arns[kind] = secrets.create_secret(Name=f"cruddur/dev/rds/check-{kind}", KmsKeyId=key,
                                           SecretString=rds_secret(user, password))["ARN"]
        put_secret(arns[kind], rds_secret(user, password), secrets)
    function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTIONS['confirmationFunctionName']}"
    pool = aws("cognito-idp").create_user_pool(PoolName="cruddur-dev-users",
                                                  LambdaConfig={"PostConfirmation": function_arn})["UserPool"]["Id"]
    aws("s3").create_bucket(Bucket="cruddur-dev-trail", CreateBucketConfiguration={"LocationConstraint": REGION})
    trail = aws("cloudtrail").create_trail(Name="cruddur-dev-trail", S3BucketName="cruddur-dev-trail")["TrailARN"]
    aws("cloudtrail").start_logging(Name=trail)
    detector = aws("guardduty").create_detector(
        Enable=True, Features=[{"Name": "RDS_LOGIN_EVENTS", "Status": "ENABLED"}])["DetectorId"]
    topic = aws("sns").create_topic(Name="cruddur-dev-alarms")["TopicArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@example.com")
    from ops.stack.check.alarms import expected_alarms

    for name in expected_alarms(Context(STACK, {}, settings=s)):
        aws("cloudwatch").put_metric_alarm(
            AlarmName=name, MetricName="CPUUtilization", Namespace="AWS/RDS", Statistic="Average", Period=300,
            EvaluationPeriods=1, Threshold=80.0, ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic])
    account = aws("sts").get_caller_identity()["Account"]
    aws("budgets").create_budget(AccountId=account, Budget={
        "BudgetName": "cruddur-dev-monthly", "BudgetLimit": {"Amount": str(s.monitoring.monthly_budget_usd),
                                                             "Unit": "USD"},
        "TimeUnit": "MONTHLY", "BudgetType": "COST"})
    outputs = {
        "region": REGION, "dbInstanceId": INSTANCE, "dbHost": f"{INSTANCE}.c9akciq32xyz.{REGION}.rds.amazonaws.com",
        "dbPort": 5432, "dbName": "cruddur", "kmsKeyArn": key, "vpcId": vpc, "privateSubnetIds": subnets,
        "dbSecurityGroupId": groups["db"], "appSecurityGroupId": groups["app"],
        "operatorSecurityGroupId": groups["operator"], "operatorEndpointId": "eice-0123456789abcdef0",
        "masterSecretArn": arns["master"], "appSecretArn": arns["app"], "userPoolId": pool,
        "migrationsSha256": migrations_sha256(), "auditTrailArn": trail, "auditBucketName": "cruddur-dev-trail",
        "auditLogGroupName": "/cruddur/dev/trail", "guardDutyDetectorId": detector, "alarmTopicArn": topic,
        "budgetName": "cruddur-dev-monthly", **FUNCTIONS,
    }
    return AwsStack(outputs, {"key": key, "vpc": vpc, **groups, "trail": trail, "topic": topic, "pool": pool,
                              "detector": detector, "account": account})
