"""Which config keys the program was given, and which of them no declaration reads: a key in the project's
namespace that is not declared, or a key in a namespace that only looks like the project's (``cruddurdb:multiAz``).
Either would be silently ignored, with its protection; ``components.settings`` names them.

Linear in the number of keys (a stack file of a hundred thousand keys is judged in a fraction of a second): each
namespace is compared with the project's once.
"""

from __future__ import annotations

import re
from collections.abc import Collection


def given() -> set[str]:
    """Every config key the program was given: the in-process config (``set_all_config``: tests, the offline plan,
    automation) and the engine's (``PULUMI_CONFIG``, JSON, how ``pulumi up`` passes it), as ``pulumi.Config`` reads
    them."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get())
    try:
        keys.update(runtime_config.get_config_env())
    except (ValueError, TypeError):  # not JSON or not an object: pulumi.Config would fail on its own terms
        pass
    return keys if all(isinstance(k, str) for k in keys) else {k for k in keys if isinstance(k, str)}


def outside_the_declarations(known: Collection[str], project: str) -> list[str]:
    """The given keys (``namespace:key``) that no declaration reads: ``project:KEY`` with KEY not in ``known``, or
    any key in a namespace that ``looks_like_project``. Unordered."""
    prefix = project + ":"
    keys = given() - {prefix + key for key in known}
    ours = [full for full in keys if full.startswith(prefix)]
    others = keys.difference(ours)
    namespaces = {full.partition(":")[0] for full in others}
    wrong = {namespace for namespace in namespaces if looks_like_project(namespace, project)}
    return ours + [full for full in others if full.partition(":")[0] in wrong] if wrong else ours


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def looks_like_project(namespace: str, project: str) -> bool:
    """A namespace that is not the project's (``cruddur-db``) but was meant to be: within two edits of it, the same
    but for case and punctuation, or starting with "cruddur" (no provider's namespace does)."""
    return namespace != project and (_edit_distance(namespace.lower(), project) <= 2
                                     or _squash(namespace).startswith(_squash("cruddur")))
