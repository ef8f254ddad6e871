"""The allowlist of resource types: the pack judges only what it knows, and a resource of any other type is a
violation (MANDATORY on prod, advisory on dev).

The list is not written by hand: it is every type some rule names in its registration (``types=`` of a resource or
stack rule), so adding a rule for a new type puts the type on the list, plus ``REVIEWED_TYPES`` below: the few types
the program declares that only the generic rules judge (policy documents wherever they appear, the region), each
with the reason nothing more needs checking. The engine sends resource policies custom resources only (providers
included); component resources (``cruddur:*``) declare nothing by themselves: their children are judged.
"""

from __future__ import annotations

from .registry import EVERY_TYPE, Subject, declared_types, resource_rule

# Types judged only by the generic rules (documents, region, environment), with the reason that is enough.
REVIEWED_TYPES: dict[str, str] = {
    "pulumi:providers:random": "the default provider of the random resources: no cloud resource, no data",
    "random:index/randomPassword:RandomPassword": "generated in the engine; the secret rules judge where it is kept",
    "random:index/randomId:RandomId": "a name suffix generated in the engine",
    # IAM: what they allow is a policy document, judged wherever it appears (resource-policy-not-public,
    # policy-documents-least-privilege, policy-documents-same-account)
    "aws:iam/rolePolicy:RolePolicy": "its policy is a document, judged by the generic document rules",
    "aws:iam/policy:Policy": "its policy is a document, judged by the generic document rules",
    "aws:sns/topicPolicy:TopicPolicy": "its policy is a document, judged by the generic document rules",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "its policy is a document, judged by the generic document rules",
    "aws:kms/keyPolicy:KeyPolicy": "its policy is a document, judged by the generic document rules",
    "aws:kms/alias:Alias": "a name for a key of this stack; grants nothing",
    # network plumbing with no route out and no rule of its own to break
    "aws:ec2/vpc:Vpc": "an address space; what reaches it is the security groups' to say (judged)",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "associates a route table of this stack",
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint":
        "reaches only what its security group (judged) allows; callers need IAM (documents judged)",
    "aws:rds/subnetGroup:SubnetGroup": "places the database in the stack's private subnets",
    # logs, alarms and events
    "aws:cloudwatch/logGroup:LogGroup": "log data in the stack's region (region-allowed); grants nothing",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "an alarm on a metric; grants nothing",
    "aws:cloudwatch/dashboard:Dashboard": "a dashboard of metrics; grants nothing",
    "aws:cloudwatch/eventRule:EventRule": "an event pattern of this account; grants nothing",
    "aws:costexplorer/costAllocationTag:CostAllocationTag": "activates a tag for the budget; grants nothing",
    # S3 settings that only tighten a bucket (the bucket, its policy, ACLs and public-access block are judged)
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "ownership settings; ACLs are judged where set",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        "a bucket's default encryption; cannot open anything",
    "aws:s3/bucketVersioning:BucketVersioning": "keeps object versions; cannot open anything",
    # functions and their code
    "aws:lambda/layerVersion:LayerVersion": "signed code shared with the stack's functions; a grant to others is a "
                                            "LayerVersionPermission (judged)",
    "aws:lambda/invocation:Invocation": "runs a function of this stack once at `pulumi up`",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "retry settings of a function of this stack",
    "aws:signer/signingProfile:SigningProfile": "the stack's signing profile (code signing is judged on functions)",
    "aws:signer/signingJob:SigningJob": "signs a package of this stack",
    "aws:cognito/userPoolClient:UserPoolClient": "a client of the judged user pool; no secret, no grant",
    # the restore drill: backups of the stack's own database in its own region
    "aws:backup/vault:Vault": "holds the stack's backups, encrypted with the stack's key; its policy is a "
                              "VaultPolicy (a type not listed)",
    "aws:backup/selection:Selection": "selects the stack's database for its backup plan (judged)",
    "aws:backup/vaultNotifications:VaultNotifications": "notifies a topic of this stack",
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": "restores a recovery point in this account and region",
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": "selects what the restore test restores",
}


def known_types() -> frozenset[str]:
    """The types the pack judges: every type a rule names, and the reviewed ones."""
    return declared_types() | frozenset(REVIEWED_TYPES)


@resource_rule("resource-type-allowed", types=EVERY_TYPE,
               description="Every resource is of a type the pack has rules for (a type some rule names, or one of "
                           "the few reviewed types only the generic rules judge, policy/rules/allowlist.py): a new "
                           "type is judged before it is deployed.",
               practices=("least-privilege", "no-public-access"), prod_only=True,
               dev_reason="a dev stack may try a resource type before the pack's rules for it are written.")
def resource_type_allowed(r: Subject) -> list[str]:
    if r.type in known_types():
        return []
    return [f"{r.label} is of type {r.type}, which the pack has no rules for; add it to the pack with its rules "
            "(policy/rules/<concern>.py: a rule that names it in types=), or, when the generic rules (documents, "
            "region) are enough, to REVIEWED_TYPES in policy/rules/allowlist.py with the reason"]
