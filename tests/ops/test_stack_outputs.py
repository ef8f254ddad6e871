"""``ops.stack.outputs.STACK_OUTPUTS`` is exactly what ``__main__.py`` exports (its docstring points to it)."""

from __future__ import annotations

import ast
import json

from ops.paths import PROJECT_ROOT
from ops.stack.outputs import CONDITIONAL_OUTPUTS, STACK_OUTPUTS
from tests.components.conftest import dev, prod  # noqa: F401 - the committed stacks' evaluations
from tests.ops.conftest import RECORDED_OUTPUTS

# The secrets' ARNs (their CURRENT values are read from Secrets Manager), the fallbacks for fields a secret lacks,
# and masterConnectionUrl for the master's user name only (never its deploy-time password).
READ_BY_THE_CLI = {"masterSecretArn", "appSecretArn", "dbHost", "dbPort", "dbName", "masterConnectionUrl", "region",
                   "operatorEndpointId", "userPoolId", "userPoolClientId", "kmsKeyArn", "dbInstanceId"}


def _exports() -> tuple[list[str], set[str]]:
    """(every name passed to pulumi.export in __main__.py, those exported only under an `if`)."""
    tree = ast.parse((PROJECT_ROOT / "__main__.py").read_text())
    names: list[str] = []
    conditional: set[str] = set()

    def visit(node, guarded: bool) -> None:
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "export"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "pulumi"):
            name = node.args[0].value
            names.append(name)
            if guarded:
                conditional.add(name)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded or isinstance(node, ast.If))

    visit(tree, False)
    return names, conditional


def test_the_list_matches_the_program():
    names, conditional = _exports()
    assert len(names) == len(set(names)) == len(STACK_OUTPUTS) == len(set(STACK_OUTPUTS))
    assert set(STACK_OUTPUTS) == set(names)
    assert set(CONDITIONAL_OUTPUTS) == conditional
    assert READ_BY_THE_CLI <= set(STACK_OUTPUTS) - set(CONDITIONAL_OUTPUTS)


def test_the_list_matches_what_the_stacks_export(dev, prod):  # noqa: F811
    for stack in (dev, prod):
        assert set(STACK_OUTPUTS) - set(CONDITIONAL_OUTPUTS) <= set(stack.outputs) <= set(STACK_OUTPUTS)
    assert set(json.loads(RECORDED_OUTPUTS.read_text())) <= set(STACK_OUTPUTS)
