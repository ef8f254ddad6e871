"""The stack rules that join resources of several kinds: a database with its parameter group and its password's
secret, a trail with its bucket, the bucket's public-access block and policy, what a prod stack must declare
(trail, GuardDuty), the resources it protects, and where all data lives."""

from __future__ import annotations

from typing import Any

from .constants import (
    AWS_PROVIDER,
    BACKUP_PLAN,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    COGNITO_USER_POOL,
    DEFAULT_ALLOWED_REGIONS,
    GUARDDUTY_DETECTOR,
    GUARDDUTY_FEATURE,
    GUARDDUTY_RDS_FEATURE,
    KMS_KEY,
    RDS_CLUSTER,
    RDS_CLUSTER_PARAMETER_GROUP,
    RDS_INSTANCE,
    RDS_PARAMETER_GROUP,
    RDS_SNAPSHOT_COPY,
    SECRET,
    SECRET_VERSION,
    STACK,
    TRAIL,
)
from .documents import denies_insecure_transport
from .props import (
    UNKNOWN,
    as_list,
    has_unknown,
    known,
    of_type,
    parse_json,
    plain,
    policy_config,
    short_type,
    switched_off,
    truthy,
)
from .registry import stack_rule
from .storage import public_access_fully_blocked

_TLS_LINKS = ((RDS_INSTANCE, "parameterGroupName", RDS_PARAMETER_GROUP),
              (RDS_CLUSTER, "dbClusterParameterGroupName", RDS_CLUSTER_PARAMETER_GROUP))


def _parameter_links(args) -> list[tuple[str, str, Any, list[tuple[str, dict]]]]:
    """For each RDS instance (cluster) whose link is known: (label, "default" | "undeclared" | "linked", the
    linked name, [(group name, {parameter: value})] of the linked groups whose parameters are all known)."""
    links = []
    for database_type, link, group_type in _TLS_LINKS:
        groups = of_type(args, group_type)
        for database, p in of_type(args, database_type):
            label = f"{short_type(database_type)} '{database.name}'"
            linked = p.get(link)
            if not known(linked):
                continue
            if not linked:
                links.append((label, "default", linked, []))
                continue
            matching = [(g, gp) for g, gp in groups if gp.get("name") == linked]
            if not matching:
                if not any(not known(gp.get("name")) for _, gp in groups):
                    links.append((label, "undeclared", linked, []))
                continue  # else: a group whose name is not known yet may be the linked one
            found = []
            for group, gp in matching:
                parameters = gp.get("parameters")
                if not known(parameters) or has_unknown(parameters):
                    continue
                found.append((group.name, {prm.get("name"): prm.get("value") for prm in as_list(parameters)
                                           if isinstance(prm, dict)}))
            links.append((label, "linked", linked, found))
    return links


@stack_rule("rds-tls-enforced", types=(RDS_INSTANCE, RDS_CLUSTER),
            reads=(RDS_PARAMETER_GROUP, RDS_CLUSTER_PARAMETER_GROUP),
            description="Each RDS instance (and cluster) links a parameter group of this stack that forces TLS "
                        "(rds.force_ssl=1).",
            practices=("encryption-in-transit",))
def rds_tls_parameter_group(args) -> list[str]:
    """Each RDS instance/cluster links a parameter group declared in this stack that sets rds.force_ssl=1."""
    problems = []
    for label, state, linked, groups in _parameter_links(args):
        if state == "default":
            problems.append(f"{label} uses the engine's default parameter group; link a parameter group that "
                            "sets rds.force_ssl=1 (parameter_group_name)")
        elif state == "undeclared":
            problems.append(f"{label} links parameter group '{linked}', which this stack does not declare; "
                            "declare it here with rds.force_ssl=1 so TLS is enforced by code")
        for name, values in groups:
            if str(values.get("rds.force_ssl")) != "1":
                problems.append(f"{label} links parameter group '{name}' without rds.force_ssl=1; add "
                                "{name: rds.force_ssl, value: '1'} so the server refuses non-TLS connections")
    return problems


@stack_rule("rds-scram-passwords", types=(RDS_INSTANCE, RDS_CLUSTER),
            description="The parameter group each RDS instance (cluster) links stores passwords as SCRAM "
                        "(password_encryption=scram-sha-256), never md5.",
            practices=("strong-auth",))
def rds_scram_passwords(args) -> list[str]:
    """Unlinked or undeclared groups are rds-tls-enforced's to report; this rule judges the groups it can see."""
    return [f"{label} links parameter group '{name}' without password_encryption=scram-sha-256; add "
            "{name: password_encryption, value: 'scram-sha-256'} so no password is stored as md5"
            for label, _, _, groups in _parameter_links(args) for name, values in groups
            if str(values.get("password_encryption")) != "scram-sha-256"]


def postgres_family(engine_version: Any) -> str | None:
    """The parameter-group family of a PostgreSQL engine version: ``17`` / ``17.2`` -> ``postgres17``, ``9.6.24``
    -> ``postgres9.6``; None for anything that is not a version."""
    if isinstance(engine_version, (int, float)) and not isinstance(engine_version, bool):
        engine_version = str(engine_version)
    if not isinstance(engine_version, str):
        return None
    parts = engine_version.strip().split(".")
    if not parts[0].isdigit():
        return None
    major = int(parts[0])
    if major >= 10:
        return f"postgres{major}"
    if len(parts) > 1 and parts[1].isdigit():
        return f"postgres{major}.{parts[1]}"
    return None


@stack_rule("rds-parameter-group-family", types=(RDS_INSTANCE,),
            description="A PostgreSQL RDS instance links a parameter group of its engine's family "
                        "(postgres<major of engine_version>): a major upgrade declares the new family's group.",
            practices=("safe-upgrades",))
def rds_parameter_group_family(args) -> list[str]:
    """Instances whose engine, version or group is not known yet, or whose group this stack does not declare
    (rds-tls-enforced's to report), are not judged."""
    groups = of_type(args, RDS_PARAMETER_GROUP)
    problems = []
    for database, p in of_type(args, RDS_INSTANCE):
        engine, version, linked = p.get("engine"), p.get("engineVersion"), p.get("parameterGroupName")
        if engine != "postgres" or not isinstance(linked, str) or not linked:
            continue
        wanted = postgres_family(version)
        if wanted is None:
            continue
        for group, gp in groups:
            family = gp.get("family")
            if gp.get("name") != linked or not isinstance(family, str) or family == wanted:
                continue
            problems.append(f"rds Instance '{database.name}' runs PostgreSQL {version} but links parameter group "
                            f"'{group.name}' of family {family}; link a {wanted} group (one group per family, "
                            "components/database.py; runbooks/upgrade-major.md)")
    return problems


@stack_rule("rds-master-password-in-secrets-manager", types=(RDS_INSTANCE, RDS_CLUSTER), reads=(SECRET_VERSION,),
            description="Each RDS instance's (cluster's) master password is kept in a Secrets Manager secret of "
                        "this stack (a SecretVersion whose JSON secret_string has it as \"password\"), or managed "
                        "by RDS (manage_master_user_password).",
            practices=("secrets",))
def rds_master_password_in_secrets_manager(args) -> list[str]:
    """Compares values in memory only: no message ever contains a password."""
    held, undecided = [], False
    for _, p in of_type(args, SECRET_VERSION):
        secret_string = p.get("secretString")
        if not known(secret_string):
            undecided = True
            continue
        document = parse_json(secret_string)
        if isinstance(document, dict) and isinstance(document.get("password"), str):
            held.append(document["password"])
    problems = []
    for database_type, key in ((RDS_INSTANCE, "password"), (RDS_CLUSTER, "masterPassword")):
        for database, p in of_type(args, database_type):
            if truthy(p.get("manageMasterUserPassword")):
                continue
            password = p.get(key)
            if not isinstance(password, str) or not password or undecided or password in held:
                continue
            problems.append(f"{short_type(database_type)} '{database.name}' has a master password that no Secrets "
                            "Manager secret of this stack holds; keep it in one (a SecretVersion whose secret_string "
                            "has it as \"password\") or set manage_master_user_password=True")
    return problems


def _for_bucket(resources: list[tuple[Any, dict]], bucket: str) -> tuple[list[dict], bool]:
    """(props of the resources whose ``bucket`` is ``bucket``, whether some resource's bucket is not known yet)."""
    definite = [p for _, p in resources if p.get("bucket") == bucket]
    maybe = any(not known(p.get("bucket")) for _, p in resources)
    return definite, maybe


@stack_rule("audit-trail-present", description="The stack declares its CloudTrail trail.", reads=(TRAIL,),
            practices=("audit-trail",), prod_only=True,
            dev_reason="a dev stack may switch its trail off where the account is already audited by another trail "
                       "(cruddur-db:auditTrail).")
def audit_trail_present(args) -> list[str]:
    if not of_type(args, TRAIL):
        return ["the stack declares no CloudTrail trail; compose components.audit.Audit with "
                "cruddur-db:auditTrail true"]
    return []


@stack_rule("cloudtrail-bucket-protected", types=(TRAIL,), reads=(BUCKET_PUBLIC_ACCESS_BLOCK, BUCKET_POLICY),
            description="Each trail's S3 bucket blocks all public access and denies non-TLS requests.",
            practices=("no-public-access", "encryption-in-transit", "audit-trail"))
def cloudtrail_bucket_protected(args) -> list[str]:
    """Each trail's bucket has all four public-access blocks and a bucket policy denying non-TLS requests."""
    blocks = of_type(args, BUCKET_PUBLIC_ACCESS_BLOCK)
    policies = of_type(args, BUCKET_POLICY)
    problems = []
    for trail, p in of_type(args, TRAIL):
        bucket = p.get("s3BucketName")
        if not known(bucket) or not bucket:
            continue
        label = f"cloudtrail Trail '{trail.name}' bucket '{bucket}'"
        mine, maybe = _for_bucket(blocks, bucket)
        if not mine and not maybe:
            problems.append(f"{label} has no public-access block in this stack; declare an "
                            "aws.s3.BucketPublicAccessBlock with all four settings True")
        elif mine and all(public_access_fully_blocked(bp) for bp in mine) and not maybe:
            off = public_access_fully_blocked(mine[0])
            problems.append(f"{label} leaves {', '.join(off)} off; set all four public-access blocks to True")
        mine, maybe = _for_bucket(policies, bucket)
        if not mine and not maybe:
            problems.append(f"{label} has no bucket policy in this stack; declare one that denies requests "
                            "without TLS (aws:SecureTransport=false)")
        elif mine and all(denies_insecure_transport(pp.get("policy"), bucket) is False for pp in mine) and not maybe:
            problems.append(f"{label} policy does not deny non-TLS requests; add a Deny of s3:* when "
                            "aws:SecureTransport is false")
    return problems


@stack_rule("cloudtrail-bucket-retained", types=(TRAIL,), description="A trail's S3 bucket is never force-destroyable.",
            practices=("deletion-protection", "audit-trail"), prod_only=True,
            dev_reason="a dev stack may let `pulumi destroy` empty its trail bucket "
                       "(cruddur-db:trailBucketForceDestroy).")
def cloudtrail_bucket_retained(args) -> list[str]:
    """A trail's bucket is never force-destroyable (its log files are the evidence)."""
    trail_buckets = {p.get("s3BucketName") for _, p in of_type(args, TRAIL)}
    problems = []
    for bucket, p in of_type(args, BUCKET):
        name = p.get("bucket")
        if known(name) and name in trail_buckets and truthy(p.get("forceDestroy")):
            problems.append(f"s3 Bucket '{bucket.name}' holds CloudTrail log files and has force_destroy on; set "
                            "force_destroy=False (cruddur-db:trailBucketForceDestroy false)")
    return problems


PROTECTED_TYPES = (RDS_INSTANCE, RDS_CLUSTER, SECRET, KMS_KEY, COGNITO_USER_POOL)


def _protect(resource) -> Any:
    """The resource's ``protect`` option: True/False, or UNKNOWN when the engine gave no options."""
    value = getattr(getattr(resource, "opts", None), "protect", None)
    return value if isinstance(value, bool) else UNKNOWN


@stack_rule("prod-stateful-protected", types=(*PROTECTED_TYPES, TRAIL),
            description="On prod, the resources whose loss loses data or access to it carry Pulumi protect: RDS "
                        "instances and clusters, Secrets Manager secrets, KMS keys, Cognito user pools and each "
                        "trail's S3 bucket.",
            practices=("deletion-protection",), prod_only=True, dev_advisory=False,
            dev_reason="a dev stack leaves them unprotected so it can be torn down "
                       "(cruddur-db:protectStatefulResources)")
def prod_stateful_protected(args) -> list[str]:
    trail_buckets = {p.get("s3BucketName") for _, p in of_type(args, TRAIL)}
    stateful = [(r, f"{short_type(r.resource_type)} '{r.name}'") for r in args.resources
                if r.resource_type in PROTECTED_TYPES]
    for bucket, p in of_type(args, BUCKET):
        name = p.get("bucket")
        if isinstance(name, str) and name in trail_buckets:
            stateful.append((bucket, f"s3 Bucket '{bucket.name}' (CloudTrail log files)"))
    return [f"{label} is not protected; declare it with protect=True "
            "(components/naming.py stateful(); cruddur-db:protectStatefulResources true), so that no destroy or "
            "replacement deletes it until its protection is lifted on purpose (`pulumi state unprotect URN`)"
            for resource, label in stateful if _protect(resource) is False]


@stack_rule("guardduty-rds-protection", reads=(GUARDDUTY_DETECTOR, GUARDDUTY_FEATURE),
            description="A GuardDuty detector (created here or adopted by id) has RDS Protection (RDS_LOGIN_EVENTS) "
                        "enabled.",
            practices=("guardduty",), prod_only=True,
            dev_reason="a dev stack may switch GuardDuty off, e.g. where the organization's delegated administrator "
                       "manages it (cruddur-db:guardDuty).")
def guardduty_rds_protection(args) -> list[str]:
    """A GuardDuty detector (created here or adopted by id) with RDS Protection enabled."""
    detectors = of_type(args, GUARDDUTY_DETECTOR)
    features = [(f, p) for f, p in of_type(args, GUARDDUTY_FEATURE)
                if p.get("name") == GUARDDUTY_RDS_FEATURE or not known(p.get("name"))]
    problems = []
    for detector, p in detectors:
        if switched_off(p.get("enable", True)):
            problems.append(f"guardduty Detector '{detector.name}' is disabled; set enable=True")
    enabled = []
    for feature, p in features:
        status = p.get("status")
        detector_id = p.get("detectorId")
        if known(status) and status != "ENABLED":
            problems.append(f"guardduty DetectorFeature '{feature.name}' ({GUARDDUTY_RDS_FEATURE}) is {status}; "
                            "set status='ENABLED'")
        elif known(detector_id) and not detector_id:
            problems.append(f"guardduty DetectorFeature '{feature.name}' names no detector; set detector_id to the "
                            "detector's id (or cruddur-db:guardDutyDetectorId to adopt one)")
        else:
            enabled.append(feature)
    if not enabled and not problems:
        problems.append("the stack enables no GuardDuty RDS Protection; declare an aws.guardduty.DetectorFeature "
                        f"{GUARDDUTY_RDS_FEATURE} ENABLED on a detector created here or adopted "
                        "(cruddur-db:guardDuty true, optionally cruddur-db:guardDutyDetectorId)")
    return problems


def _regions_elsewhere(resource_type: str, p: dict) -> list[tuple[str, Any]]:
    """(verb, region) for each place a resource copies or replicates its data to, besides its own region."""
    found = []
    if resource_type == RDS_SNAPSHOT_COPY:
        found.append(("copies data to", p.get("destinationRegion")))
    if resource_type == SECRET:
        for replica in as_list(p.get("replicas")):
            if isinstance(replica, dict):
                found.append(("replicates data to", replica.get("region")))
    if resource_type == BACKUP_PLAN:
        for rule in as_list(p.get("rules")):
            for action in as_list(rule.get("copyActions") if isinstance(rule, dict) else None):
                vault = action.get("destinationVaultArn") if isinstance(action, dict) else None
                found.append(("copies backups to", _arn_region(vault)))
    return found


def _arn_region(arn: Any) -> Any:
    """The region of an ARN (``arn:aws:backup:us-east-1:1:backup-vault:v`` -> ``us-east-1``); None when not one."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 else None


@stack_rule("region-allowed", reads=(AWS_PROVIDER, RDS_SNAPSHOT_COPY, BACKUP_PLAN),
            description="Every AWS provider and resource, and every copy or replica of their data (snapshot copies, "
                        "secret replicas, backup plans' copy actions), is in an allowed region (data residency; "
                        "policy config allowedRegions, "
                        f"default {', '.join(DEFAULT_ALLOWED_REGIONS)}).",
            practices=("region",),
            config={"allowedRegions": {"type": "array", "items": {"type": "string"},
                                       "default": list(DEFAULT_ALLOWED_REGIONS)}})
def region_allowed(args) -> list[str]:
    allowed = tuple(policy_config(args).get("allowedRegions") or DEFAULT_ALLOWED_REGIONS)
    outside = f"outside the allowed regions ({', '.join(allowed)}); data must stay in them"
    problems = []
    for resource in args.resources:
        p = plain(resource.props) or {}
        if not isinstance(p, dict) or resource.resource_type == STACK:  # its props are the stack's outputs
            continue
        label = f"{short_type(resource.resource_type)} '{resource.name}'"
        region = p.get("region")
        if resource.resource_type == AWS_PROVIDER and region is None:
            problems.append(f"aws provider '{resource.name}' pins no region; set region (aws:region in the stack "
                            "file) to one of " + ", ".join(allowed))
        elif isinstance(region, str) and region not in allowed:
            problems.append(f"{label} is in {region}, {outside}")
        for verb, elsewhere in _regions_elsewhere(resource.resource_type, p):
            if isinstance(elsewhere, str) and elsewhere and elsewhere not in allowed:
                problems.append(f"{label} {verb} {elsewhere}, {outside}")
    return problems

