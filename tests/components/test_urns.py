"""No resource is ever replaced by a refactoring: every URN recorded for a committed stack still exists.

``fixtures/urns-<stack>.txt`` holds the URNs each committed stack declared when they were recorded (one a line,
sorted). A changed name, type token or parent chain changes a URN, and Pulumi then deletes the real resource and
creates another; ``aliases`` keep the old URN, so a recorded URN is kept when a resource declares it or names it in
its ``aliases``. New resources may be added freely: this guard only checks that no recorded URN disappeared. To
record a resource that was added on purpose, append its URN to the file.
"""

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def recorded_urns(stack: str) -> list[str]:
    return [line for line in (FIXTURES / f"urns-{stack}.txt").read_text().splitlines() if line.strip()]


def test_the_fixtures_hold_the_stacks_urns(stack):
    urns = recorded_urns(stack.stack)
    assert len(urns) > 40 and urns == sorted(set(urns))
    assert all(urn.startswith(f"urn:pulumi:{stack.stack}::cruddur-db::") for urn in urns)


def test_no_recorded_urn_disappeared(stack):
    declared = {resource.urn for resource in stack.resources}
    declared |= {alias for resource in stack.resources for alias in resource.aliases}
    missing = [urn for urn in recorded_urns(stack.stack) if urn not in declared]
    assert not missing, ("resources that would be replaced (add `aliases` or restore the name/type/parent):\n"
                         + "\n".join(missing))


def test_an_alias_names_the_urn_a_moved_resource_had(dev):
    """The sign-up function's children moved into the function component; their aliases name the earlier URNs."""
    function = dev.one("aws:lambda/function:Function", "confirmation-function")
    assert "cruddur:function:Function$aws:lambda/function:Function" in function.urn
    assert function.aliases == [
        "urn:pulumi:dev::cruddur-db::cruddur:confirmation:Confirmation$aws:lambda/function:Function::"
        "confirmation-function"]
