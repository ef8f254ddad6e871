"""``CodeSigning``: every Lambda package and layer this stack deploys is signed, and Lambda refuses anything else.

An AWS Signer profile (platform ``AWSLambda-SHA384-ECDSA``) signs each zip that ``sign()`` is given: the zip is
uploaded to a private, versioned artifacts bucket (``PrivateBucket``), a signing job writes the signed copy under
``signed/<part>/``, and the function or layer is created from that copy. The code signing config allows only this
profile and ENFORCES it (``untrusted_artifact_on_deployment = Enforce``): an unsigned or tampered package, or a
layer signed by anyone else, fails the deployment. That is why the functions carry no public layer: Powertools
is the stack's own layer, built from the pinned wheel (``components.psycopg2_layer.build_powertools_layer``) and
signed here like everything else.

A code change reaches the function like this: the package (a ``pulumi.AssetArchive`` of files) hashes differently,
so ``<name>-<part>-upload`` (``BucketObjectv2``, fixed key ``unsigned/<part>.zip``) is updated and the versioned
bucket gives it a new ``version_id``; every input of a ``SigningJob`` forces a replacement, so the new version id
starts a new signing job, whose signed copy lands under a new key (``signed/<part>/<job id>.zip``); the function's
(or layer's) ``s3_key`` changes and Lambda deploys the new code. An unchanged package changes nothing.
tests/components/test_code_signing.py checks this chain under the mocks.

The artifacts bucket's server access logs go to the audit component's log bucket when the stack has one
(``access_log_bucket``; the log bucket's policy admits this bucket under ``ACCESS_LOG_PREFIX``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import Naming
from components.private_bucket import PrivateBucket, PrivateBucketArgs

PLATFORM = "AWSLambda-SHA384-ECDSA"
SIGNATURE_VALIDITY_MONTHS = 135  # Signer's maximum: a signed package stays deployable as long as possible
ACCESS_LOG_PREFIX = "artifacts-bucket/"  # where this bucket's server access logs land in the audit log bucket


@dataclass
class CodeSigningArgs:
    naming: Naming
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]  # the artifacts bucket's name carries it: bucket names are global
    access_log_bucket: pulumi.Input[str] | None = None  # the audit log bucket's name; None when there is none


@dataclass(frozen=True)
class SignedArtifact:
    bucket: pulumi.Output[str]
    key: pulumi.Output[str]


def artifacts_bucket_name(naming: Naming, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """``cruddur-<stack>-artifacts-<account>``: known before the bucket exists, so the audit log bucket's policy can
    admit its access logs (``__main__.py``)."""
    return pulumi.Output.concat(naming.physical_name("artifacts"), "-", account_id)


# Rotating the signing profile (runbooks/rotate-signing-profile.md): raise this by one in a reviewed change. The
# profile is renamed, so Pulumi creates the new one, re-signs every package and layer with it (every SigningJob's
# profile_name changes, so each is replaced and writes a new signed key), points the config at its version and
# redeploys every function and layer, and only then deletes (cancels) the old profile.
PROFILE_GENERATION = 1


def profile_name(naming: Naming, generation: int | None = None) -> str:
    """``cruddur_<stack>`` (generation 1), then ``cruddur_<stack>_g<N>``: Signer profile names take letters, digits
    and underscores only (2 to 64), and a canceled profile's name cannot be used again. ``generation``: by default
    ``PROFILE_GENERATION``."""
    generation = PROFILE_GENERATION if generation is None else generation
    suffix = "" if generation == 1 else f"_g{generation}"
    base = re.sub(r"[^A-Za-z0-9_]", "_", f"cruddur_{naming.stack}")
    return base[:64 - len(suffix)] + suffix


class CodeSigning(pulumi.ComponentResource):
    def __init__(self, name: str, args: CodeSigningArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cruddur:code_signing:CodeSigning", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        n = args.naming
        self.artifacts = PrivateBucket(f"{name}-artifacts", PrivateBucketArgs(
            bucket=artifacts_bucket_name(n, args.account_id),
            kms_key_arn=args.kms_key_arn,
            force_destroy=not n.is_prod,
            # Unsigned uploads are only the signer's input; signed copies are what functions point at.
            lifecycle_rules=[{"id": "unsigned-uploads", "status": "Enabled", "filter": {"prefix": "unsigned/"},
                              "noncurrent_version_expiration": {"noncurrent_days": 30}}],
            access_log_bucket=args.access_log_bucket,
            access_log_prefix=ACCESS_LOG_PREFIX,
            tags={"Name": n.physical_name("artifacts"), "Purpose": "lambda-code-signing"},
        ), opts=child)
        self.profile = aws.signer.SigningProfile(
            f"{name}-profile", name=profile_name(n), platform_id=PLATFORM,
            signature_validity_period={"value": SIGNATURE_VALIDITY_MONTHS, "type": "MONTHS"}, opts=child)
        self.config = aws.lambda_.CodeSigningConfig(
            f"{name}-config",
            description=f"Cruddur {n.stack}: only packages signed by {profile_name(n)}",
            allowed_publishers={"signing_profile_version_arns": [self.profile.version_arn]},
            policies={"untrusted_artifact_on_deployment": "Enforce"},
            opts=child)
        self.config_arn = self.config.arn
        self.register_outputs({"config_arn": self.config_arn, "profile_name": self.profile.name,
                               "artifacts_bucket": self.artifacts.name})

    def sign(self, part: str, archive: pulumi.Archive | pulumi.Asset) -> SignedArtifact:
        """Upload ``archive`` and sign it; returns where the signed copy is. Children ``<name>-<part>-upload``
        and ``<name>-<part>-signing``."""
        upload = aws.s3.BucketObjectv2(
            f"{self._name}-{part}-upload", bucket=self.artifacts.name, key=f"unsigned/{part}.zip", source=archive,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.artifacts.versioning]))
        job = aws.signer.SigningJob(
            f"{self._name}-{part}-signing",
            profile_name=self.profile.name,
            source={"s3": {"bucket": upload.bucket, "key": upload.key, "version": upload.version_id}},
            destination={"s3": {"bucket": self.artifacts.name, "prefix": f"signed/{part}/"}},
            ignore_signing_job_failure=False,
            opts=pulumi.ResourceOptions(parent=self))
        first = job.signed_objects.apply(lambda objects: objects[0].s3s[0])
        return SignedArtifact(bucket=first.apply(lambda s3: s3.bucket), key=first.apply(lambda s3: s3.key))
