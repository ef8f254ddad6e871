"""The S3 rules: public-access blocks, ACLs, TLS-only bucket policies and server access logging."""

from __future__ import annotations

from .constants import (
    ACCOUNT_PUBLIC_ACCESS_BLOCK,
    BUCKET,
    BUCKET_ACL,
    BUCKET_ACL_V2,
    BUCKET_LIFECYCLE,
    BUCKET_LIFECYCLE_V2,
    BUCKET_LOGGING,
    BUCKET_LOGGING_V2,
    BUCKET_OBJECT,
    BUCKET_OBJECT_V2,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_V2,
)
from .documents import denies_insecure_transport
from .props import UNKNOWN, as_list, known, of_type, short_type, truthy
from .registry import Subject, resource_rule, stack_rule


def public_access_fully_blocked(props: dict) -> list[str]:
    """The public-access settings of a (bucket or account) public-access block that are not on (unknown ones are
    not reported)."""
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return [k for k in keys if known(props.get(k)) and not truthy(props.get(k))]


@resource_rule("s3-public-access-blocked", types=(BUCKET_PUBLIC_ACCESS_BLOCK, ACCOUNT_PUBLIC_ACCESS_BLOCK),
               description="S3 public-access blocks (bucket and account) set all four settings.",
               practices=("no-public-access",))
def s3_public_access_blocked(r: Subject) -> list[str]:
    off = public_access_fully_blocked(r.props)
    if off:
        return [f"{r.label} leaves {', '.join(off)} off; set all four public-access blocks to True"]
    return []


PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
PUBLIC_GRANTEE_GROUPS = ("AllUsers", "AuthenticatedUsers")


def _public_grants(props: dict) -> list[tuple[str, str]]:
    """(permission, group) for each grant to all users or authenticated users: ``access_control_policy.grants``
    of an ACL resource (``grantee.uri``, ``permission``) and a bucket's inline ``grants`` (``uri``,
    ``permissions``)."""
    policy = props.get("accessControlPolicy")
    grants = [(g.get("grantee"), g.get("permission")) for g in
              as_list(policy.get("grants") if isinstance(policy, dict) else None) if isinstance(g, dict)]
    grants += [(g, ", ".join(p for p in as_list(g.get("permissions")) if isinstance(p, str)) or None)
               for g in as_list(props.get("grants")) if isinstance(g, dict)]
    found = []
    for grantee, permission in grants:
        uri = grantee.get("uri") if isinstance(grantee, dict) else None
        if not isinstance(uri, str):
            continue
        group = uri.strip().rstrip("/").rsplit("/", 1)[-1]
        matched = next((g for g in PUBLIC_GRANTEE_GROUPS if g.lower() == group.lower()), None)
        if matched:
            found.append((permission if isinstance(permission, str) and permission else "access", matched))
    return found


@resource_rule("s3-bucket-acl-not-public",
               types=(BUCKET_ACL, BUCKET_ACL_V2, BUCKET, BUCKET_V2, BUCKET_OBJECT, BUCKET_OBJECT_V2),
               description="S3 ACLs never grant access to everyone (canned public ACLs, AllUsers or "
                           "AuthenticatedUsers grants), on buckets (Bucket, BucketV2, inline grants, their ACL "
                           "resources) and on objects (BucketObject, BucketObjectv2).",
               practices=("no-public-access",))
def s3_bucket_acl_not_public(r: Subject) -> list[str]:
    problems = []
    acl = r.props.get("acl")
    what = "its object" if r.type in (BUCKET_OBJECT, BUCKET_OBJECT_V2) else "its bucket"
    if isinstance(acl, str) and acl.strip().lower() in PUBLIC_CANNED_ACLS:
        problems.append(f"{r.label} makes {what} public with the canned ACL '{acl}'; use acl='private' (or no "
                        "ACL: ownership controls BucketOwnerEnforced)")
    for permission, group in _public_grants(r.props):
        problems.append(f"{r.label} grants {permission} to the {group} group; grant only named canonical users")
    return problems


@resource_rule("s3-bucket-policy-denies-insecure-transport", types=(BUCKET_POLICY,),
               description="S3 bucket policies deny requests without TLS, to everyone, on the bucket and its objects.",
               practices=("encryption-in-transit",))
def s3_bucket_policy_denies_insecure_transport(r: Subject) -> list[str]:
    bucket = r.props.get("bucket")
    if denies_insecure_transport(r.props.get("policy"), bucket if known(bucket) else None) is False:
        return [f"{r.label} does not deny non-TLS requests; add a Deny of s3:* on the bucket and its objects "
                "when aws:SecureTransport is false"]
    return []


def _whole_bucket(rule: dict) -> bool | None:
    """Whether a lifecycle rule applies to every object (no filter, or a filter without a prefix, tag, size or
    and-block); None when part of it is unknown (preview)."""
    if not known(rule.get("filter")) or not known(rule.get("prefix")):
        return None
    if rule.get("prefix"):
        return False
    narrowing = rule.get("filter") or {}
    return not (isinstance(narrowing, dict) and any(v not in (None, "", {}, []) for v in narrowing.values()))


def _aborts(block: object) -> bool:
    """An abort block that names its days (one object, or a list of one as some providers shape it)."""
    blocks = as_list(block) if isinstance(block, list) else [block]
    return any(isinstance(b, dict) and b.get("daysAfterInitiation") not in (None, "") for b in blocks)


@resource_rule("s3-lifecycle-aborts-incomplete-uploads", types=(BUCKET_LIFECYCLE, BUCKET_LIFECYCLE_V2),
               description="Every S3 lifecycle configuration has an enabled rule over the whole bucket that aborts "
                           "incomplete multipart uploads (the shape scanners recognise: abort_incomplete_multipart_"
                           "upload and an empty filter).",
               practices=("cost",))
def s3_lifecycle_aborts_incomplete_uploads(r: Subject) -> list[str]:
    rules = r.props.get("rules")
    if not known(rules):
        return []
    verdicts = [_whole_bucket(rule) for rule in as_list(rules) if isinstance(rule, dict)
                and rule.get("status") == "Enabled" and _aborts(rule.get("abortIncompleteMultipartUpload"))]
    if True in verdicts or None in verdicts:
        return []
    return [f"{r.label} has no enabled whole-bucket rule aborting incomplete multipart uploads (their parts are billed "
            "and never listed); add one with an empty filter (components/private_bucket.py abort_multipart_rule)"]


def _inline_loggings(p: dict) -> list:
    """A bucket's inline (legacy) logging blocks: Bucket's ``logging`` object, BucketV2's ``loggings`` list."""
    return [x for x in (p.get("logging"), *as_list(p.get("loggings"))) if x is not None]


@stack_rule("s3-bucket-access-logging", types=(BUCKET, BUCKET_V2), reads=(BUCKET_LOGGING, BUCKET_LOGGING_V2),
            description="Every S3 bucket sends server access logs to a log bucket (aws.s3.BucketLogging), except a "
                        "bucket that is itself a log destination.",
            practices=("audit-trail",), prod_only=True,
            dev_reason="a dev stack without its audit trail (cruddur-db:auditTrail false) has no access-log bucket "
                       "to send them to.")
def s3_bucket_access_logging(args) -> list[str]:
    """Each bucket (known name) is the source of a BucketLogging (or legacy inline logging) unless some logging
    configuration of the stack targets it. Unknown names (preview) never make a violation."""
    logged, targets, unsure = set(), set(), False
    for typ in (BUCKET_LOGGING, BUCKET_LOGGING_V2):
        for _, p in of_type(args, typ):
            for key, into in (("bucket", logged), ("targetBucket", targets)):
                value = p.get(key)
                if known(value) and isinstance(value, str):
                    into.add(value)
                else:
                    unsure = True
    buckets = [(b, p) for typ in (BUCKET, BUCKET_V2) for b, p in of_type(args, typ)]
    for _, p in buckets:
        for block in _inline_loggings(p):
            target = block.get("targetBucket") if isinstance(block, dict) else UNKNOWN
            if known(target) and isinstance(target, str) and target:
                targets.add(target)
                if known(p.get("bucket")):
                    logged.add(p.get("bucket"))
            else:
                unsure = True
    problems = []
    for bucket, p in buckets:
        name = p.get("bucket")
        if not known(name) or not isinstance(name, str) or name in logged or name in targets or unsure:
            continue
        problems.append(f"{short_type(bucket.resource_type)} '{bucket.name}' ({name}) has no server access logging; declare an "
                        "aws.s3.BucketLogging into the audit component's access-log bucket "
                        "(PrivateBucketArgs.access_log_bucket)")
    return problems

