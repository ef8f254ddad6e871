"""The committed stacks' evaluations (shared session fixtures of tests/components)."""

from tests.components.conftest import dev, prod  # noqa: F401
