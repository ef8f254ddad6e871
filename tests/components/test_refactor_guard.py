"""No real resource changes when the program is reorganised: every recorded resource is still declared, under its
URN or an alias of it, with the same inputs and options (``fingerprints.py`` says what is compared and how to record
again after a deliberate change)."""

import json

from tests.components.fingerprints import fingerprint, fixture


def test_every_recorded_resource_is_declared_unchanged(stack):
    recorded = json.loads(fixture(stack.stack).read_text())
    by_urn = {}
    for resource in stack.resources:
        for urn in (resource.urn, *resource.aliases):
            by_urn[urn] = resource
    missing = sorted(urn for urn in recorded if urn not in by_urn)
    changed = sorted(urn for urn, digest in recorded.items() if urn in by_urn and fingerprint(by_urn[urn]) != digest)
    assert not missing, "resources no longer declared (add aliases, or record again on purpose):\n" + "\n".join(missing)
    assert not changed, "resources whose inputs or options changed:\n" + "\n".join(changed)


def test_the_fingerprints_cover_every_custom_resource(stack):
    recorded = json.loads(fixture(stack.stack).read_text())
    declared = {urn for r in stack.resources if r.custom for urn in (r.urn, *r.aliases)}
    assert len(recorded) > 150
    assert set(recorded) <= declared
