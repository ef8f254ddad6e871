"""s3-lifecycle-aborts-incomplete-uploads: every lifecycle configuration aborts incomplete multipart uploads over the
whole bucket, in the shape scanners recognise."""

from __future__ import annotations

import pytest

from tests.policy.judge import ROLE, judge

LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
RULE = "s3-lifecycle-aborts-incomplete-uploads"
ABORT = {"id": "abort", "status": "Enabled", "filter": {}, "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1}}
MESSAGE = ("has no enabled whole-bucket rule aborting incomplete multipart uploads (their parts are billed and never "
           "listed); add one with an empty filter (components/private_bucket.py abort_multipart_rule)")


def _verdict(rules: list[dict]):
    found = judge([ROLE, (LIFECYCLE, {"bucket": "b", "rules": rules}, "lc")])
    return found.get(RULE)


@pytest.mark.parametrize("rules", [
    [{"id": "logs", "status": "Enabled", "filter": {"prefix": "trail/"}, "expiration": {"days": 90}}],
    [{**ABORT, "filter": {"prefix": "trail/"}}],                  # the abort, but for one prefix only
    [{**ABORT, "status": "Disabled"}],
    [{**ABORT, "filter": {"and": {"prefix": "x/", "tags": {"a": "b"}}}}],
    [{"id": "x", "status": "Enabled", "filter": {}, "expiration": {"days": 3}}],
])
def test_a_lifecycle_without_a_whole_bucket_abort_is_a_violation(rules):
    level, messages = _verdict(rules)
    assert level == "mandatory" and len(messages) == 1 and messages[0].endswith(MESSAGE)


@pytest.mark.parametrize("rules", [
    [ABORT],
    [{"id": "logs", "status": "Enabled", "filter": {"prefix": "trail/"}, "expiration": {"days": 90}}, ABORT],
    [{**ABORT, "filter": None}],
    [{**ABORT, "filter": {"prefix": ""}}],
])
def test_a_whole_bucket_abort_passes(rules):
    assert _verdict(rules) is None


def test_every_bucket_of_both_stacks_passes(dev, prod):
    for stack in (dev, prod):
        lifecycles = [r for r in stack.resources if r.type == LIFECYCLE]
        assert lifecycles and all(_verdict(r.props["rules"]) is None for r in lifecycles)
