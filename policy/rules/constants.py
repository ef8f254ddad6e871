"""The resource type tokens the rules dispatch on, and the constants the pack shares with the program.

The shared ones are repeated from ``components/settings.py``, ``components/database.py`` and ``Pulumi.yaml`` (the
pack runs in its own virtualenv and cannot import the program); tests/policy keeps them equal.
"""

# Shared with components/settings.py (tests/policy keeps them equal).
DEFAULT_ALLOWED_REGIONS = ("eu-west-1", "eu-central-1")
RESERVED_USERNAMES = ("postgres", "root", "admin", "administrator", "rdsadmin", "rdsrepladmin", "master", "user")
PROD_MIN_BACKUP_DAYS = 7
PROD_MIN_TRAIL_EXPIRE_DAYS = 365  # the trail's log files stay in its bucket at least this long on prod
RDS_LOG_EXPORTS = ("postgresql", "upgrade")
# Lambda runtimes that are current and more than a year from deprecation (policy config ``supportedRuntimes``
# overrides the list).
SUPPORTED_RUNTIMES = ("python3.12", "python3.13", "python3.14", "nodejs22.x", "nodejs24.x", "java21",
                      "provided.al2023")
GUARDDUTY_RDS_FEATURE = "RDS_LOGIN_EVENTS"
# What RDS does when a major version's standard support ends: upgrade it, never bill for Extended Support
# (components/database.py ENGINE_LIFECYCLE_SUPPORT; AWS's default, when unset, is "open-source-rds-extended-support").
ENGINE_LIFECYCLE_SUPPORT = "open-source-rds-extended-support-disabled"
# The stack setting that is the stack's AWS Budgets budget (components/settings.py, components/budget.py).
MONTHLY_BUDGET_KEY = "monthlyBudgetUsd"
# The Cognito user pool's password policy floor (components/confirmation.py sets at least this).
COGNITO_MIN_PASSWORD_LENGTH = 12
COGNITO_MAX_TEMPORARY_PASSWORD_DAYS = 7

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
RDS_SNAPSHOT = "aws:rds/snapshot:Snapshot"
RDS_SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"
RDS_CLUSTER_SNAPSHOT = "aws:rds/clusterSnapshot:ClusterSnapshot"
RDS_PROXY = "aws:rds/proxy:Proxy"
RDS_PROXY_DEFAULT_TARGET_GROUP = "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup"
RDS_PROXY_TARGET = "aws:rds/proxyTarget:ProxyTarget"
RDS_PROXY_ENDPOINT = "aws:rds/proxyEndpoint:ProxyEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE = "aws:ec2/route:Route"
SUBNET = "aws:ec2/subnet:Subnet"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
MANAGED_PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
MANAGED_PREFIX_LIST_ENTRY = "aws:ec2/managedPrefixListEntry:ManagedPrefixListEntry"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 - a type token, not a password
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"  # noqa: S105 - a type token, not a password
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 - a type token, not a password
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 - a type token, not a password
COGNITO_USER_POOL = "aws:cognito/userPool:UserPool"
KMS_KEY = "aws:kms/key:Key"
KMS_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
BUCKET_ACL_V2 = "aws:s3/bucketAclV2:BucketAclV2"
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"  # v7: the deprecated alias of Bucket (inline `loggings` list)
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_OBJECT = "aws:s3/bucketObject:BucketObject"
BUCKET_OBJECT_V2 = "aws:s3/bucketObjectv2:BucketObjectv2"
BUCKET_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_LIFECYCLE_V2 = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
BACKUP_PLAN = "aws:backup/plan:Plan"
GUARDDUTY_FILTER = "aws:guardduty/filter:Filter"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
# The AWS managed policies the program attaches, reviewed: each grants a service role what it needs, no more.
REVIEWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole": "writes a function's logs",
    "service-role/AWSLambdaVPCAccessExecutionRole": "lets a function in the VPC manage its network interfaces",
    "service-role/AmazonRDSEnhancedMonitoringRole": "lets RDS publish Enhanced Monitoring metrics",
    "service-role/AWSBackupServiceRolePolicyForBackup": "lets AWS Backup take the database's backups",
    "service-role/AWSBackupServiceRolePolicyForRestores": "lets AWS Backup restore them for the restore drill",
}
IAM_USER = "aws:iam/user:User"
IAM_ACCESS_KEY = "aws:iam/accessKey:AccessKey"
IAM_LOGIN_PROFILE = "aws:iam/userLoginProfile:UserLoginProfile"
LAMBDA_LAYER_PERMISSION = "aws:lambda/layerVersionPermission:LayerVersionPermission"
BUCKET_LOGGING_V2 = "aws:s3/bucketLoggingV2:BucketLoggingV2"  # v7: the deprecated alias of BucketLogging
GUARDDUTY_DETECTOR = "aws:guardduty/detector:Detector"
GUARDDUTY_FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
LAMBDA_CODE_SIGNING_CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"
SNS_TOPIC = "aws:sns/topic:Topic"
AWS_PROVIDER = "pulumi:providers:aws"
BUDGET = "aws:budgets/budget:Budget"
SCHEDULER_SCHEDULE = "aws:scheduler/schedule:Schedule"
STACK = "pulumi:pulumi:Stack"  # the root resource; the engine passes the stack's outputs as its props
