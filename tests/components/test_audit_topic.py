"""Audit: the trail's log-delivery notifications topic (encrypted with the audit key, published to by this trail
only), asserted on the resources both committed stacks declare."""

from tests.components.conftest import policy
from tests.components.test_audit import ACCOUNT, REGION, TRAIL, audit_key, child, trail_arn
from tests.components.types import TOPIC, TOPIC_POLICY


def topic(stack):
    return child(stack, TOPIC, "audit-trail-topic")


def test_topic_is_named_for_the_stack_and_encrypted_with_the_audit_key(stack):
    t = topic(stack)
    assert t.props["name"] == f"cruddur-{stack.stack}-trail-notifications"
    key_arn = audit_key(stack).outputs["arn"]
    assert t.props["kmsMasterKeyId"] == key_arn
    assert key_arn != stack.one("aws:kms/key:Key", "data-key").outputs["arn"]  # the audit key, not the data key


def test_topic_has_no_subscription_in_the_stack(stack):
    """Subscriptions are the operator's (docs/security.md, audit section): none targets the trail topic."""
    arn = topic(stack).outputs["arn"]
    subscriptions = stack.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [s.name for s in subscriptions if s.props["topic"] == arn] == []


def test_topic_policy_lets_only_this_trail_publish_and_denies_non_tls(stack):
    resource = child(stack, TOPIC_POLICY, "audit-trail-topic-policy")
    arn = topic(stack).outputs["arn"]
    assert resource.props["arn"] == arn
    statements = {s["Sid"]: s for s in policy(resource)["Statement"]}
    assert set(statements) == {"CloudTrailPublishesForThisTrailOnly", "DenyInsecureTransport"}
    publish = statements["CloudTrailPublishesForThisTrailOnly"]
    assert (publish["Effect"], publish["Action"], publish["Resource"]) == ("Allow", "SNS:Publish", arn)
    assert publish["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert publish["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn(stack)}}
    allows = [s for s in statements.values() if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allows] == [{"Service": "cloudtrail.amazonaws.com"}]
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Resource"]) == ("Deny", {"AWS": "*"}, arn)
    assert deny["Action"] == ["SNS:Publish", "SNS:Subscribe"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_audit_key_lets_cloudtrail_publish_to_its_encrypted_topic_for_this_trail_only(stack):
    statements = {s["Sid"]: s for s in policy(audit_key(stack))["Statement"]}
    notify = statements["AllowCloudTrailToPublishToItsEncryptedTopic"]
    assert notify["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert notify["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert notify["Resource"] == "*"
    assert notify["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn(stack), "aws:SourceAccount": ACCOUNT}}
    assert trail_arn(stack).startswith(f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/")


def test_trail_publishes_to_the_topic_after_its_policy(stack):
    trail = stack.one(TRAIL)
    assert trail.props["snsTopicName"] == topic(stack).props["name"]
    assert stack.one(TOPIC_POLICY, "audit-trail-topic-policy").urn in trail.dependencies


def test_topic_arn_is_exported(stack):
    assert stack.outputs["auditTopicArn"] == topic(stack).outputs["arn"]


def test_no_trail_no_topic(evaluate_with):
    stack = evaluate_with("dev", {"auditTrail": False})
    assert [t.name for t in stack.of_type(TOPIC) if t.name.startswith("audit")] == []
    assert "auditTopicArn" not in stack.outputs
