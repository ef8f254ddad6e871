"""The cruddur-db policy pack: `pulumi preview --policy-pack ./policy` (validators and levels in policies.py)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies import PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)
