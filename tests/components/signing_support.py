"""Following a function or layer back to what was signed for it, through the resources the mocks recorded.

A function (or layer) names its code by ``s3Bucket``/``s3Key``: the signed copy a ``SigningJob`` wrote (its
``signedObjects``); that job signed one version of one ``BucketObjectv2`` upload, whose ``source`` is the package.
"""

from __future__ import annotations

JOB = "aws:signer/signingJob:SigningJob"
UPLOAD = "aws:s3/bucketObjectv2:BucketObjectv2"


def signing_job(stack, resource):
    """The signing job whose signed copy ``resource`` (a function or layer) is created from; exactly one."""
    where = (resource.props.get("s3Bucket"), resource.props.get("s3Key"))
    jobs = [job for job in stack.of_type(JOB)
            if (job.outputs["signedObjects"][0]["s3s"][0]["bucket"],
                job.outputs["signedObjects"][0]["s3s"][0]["key"]) == where]
    assert len(jobs) == 1, f"{resource.name}'s code {where} is not the signed copy of exactly one signing job"
    return jobs[0]


def upload_of(stack, job):
    """The upload (``BucketObjectv2``) ``job`` signed: same bucket, key and version."""
    s3 = job.props["source"]["s3"]
    uploads = [u for u in stack.of_type(UPLOAD)
               if (u.props["bucket"], u.props["key"], u.outputs["versionId"]) == (s3["bucket"], s3["key"],
                                                                                   s3["version"])]
    assert len(uploads) == 1, f"{job.name} signs {s3}, which is not exactly one upload"
    return uploads[0]


def signed_source(stack, resource):
    """The package (asset or archive) ``resource`` runs, as uploaded for signing."""
    return upload_of(stack, signing_job(stack, resource)).props["source"]
