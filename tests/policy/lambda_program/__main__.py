"""A minimal program: one Lambda function and Cognito's permission to invoke it, declared the way pulumi-aws receives
them, so the Lambda policies are tested on real input shapes outside the program's own components."""

import pulumi
import pulumi_aws as aws

provider = aws.Provider("aws-pinned", region="eu-west-1", default_tags={"tags": {"Environment": "prod"}})
pinned = pulumi.ResourceOptions(provider=provider)

role = aws.iam.Role("fn-role", assume_role_policy='{"Version": "2012-10-17", "Statement": []}', opts=pinned)
function = aws.lambda_.Function(
    "post-confirmation",
    runtime="python3.13",
    architectures=["arm64"],
    handler="handler.lambda_handler",
    role=role.arn,
    timeout=5,
    code=pulumi.AssetArchive({"handler.py": pulumi.StringAsset("def lambda_handler(event, context):\n"
                                                               "    return event\n")}),
    opts=pinned,
)
aws.lambda_.Permission(
    "cognito-invoke",
    action="lambda:InvokeFunction",
    function=function.name,
    principal="cognito-idp.amazonaws.com",
    source_arn="arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123",
    opts=pinned,
)
