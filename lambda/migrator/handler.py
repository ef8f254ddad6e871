"""STAND-IN (helper E2, branch app-path): replaced by helper E1's migrator handler when the branches merge.

It exists only so the Pulumi program can package the migrator on this branch. Deployed as is, it fails the
`pulumi up` invocation on purpose: nothing is migrated by a stand-in.
"""


def handler(event, context):
    raise RuntimeError("the migrator handler is a stand-in: merge the migrator-handler branch before deploying")
