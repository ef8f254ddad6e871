"""``AwsContext``: which account, partition and region the stack deploys to, looked up ONCE at stack level
(through the region-pinned provider) and handed to every component that builds an ARN or a key policy.

The region is the stack's pinned region (the provider is created with it), so it is a plain value; the account id
and the partition come from the provider's credentials, so they are outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsContext:
    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: str

    @classmethod
    def lookup(cls, provider: pulumi.ProviderResource, region: str) -> AwsContext:
        invoke = pulumi.InvokeOutputOptions(provider=provider)
        return cls(account_id=aws.get_caller_identity_output(opts=invoke).account_id,
                   partition=aws.get_partition_output(opts=invoke).partition,
                   region=region)

    def managed_policy_arn(self, name: str) -> pulumi.Output[str]:
        """``arn:<partition>:iam::aws:policy/<name>``: an AWS-managed policy in the stack's partition."""
        return self.partition.apply(lambda partition: f"arn:{partition}:iam::aws:policy/{name}")
