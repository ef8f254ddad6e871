"""Confirmation before destructive work. Protected targets (production-looking stacks, any target where a host
libpq will use is RDS: see ``Target.protected``) need --force AND the database name typed back (prompt, or
--confirm NAME for scripts); others need --yes or a y/N answer. Every command that destroys data or ends other
people's work asks: drop, reset, kill-sessions."""

from __future__ import annotations

import typer

from ops.cli.targets import Target
from ops.errors import CruddurError


def confirm_destructive(target: Target, action: str, *, yes: bool, force: bool, confirm: str | None) -> None:
    name = target.database
    if target.protected:
        if not force:
            raise CruddurError(
                f"refusing to {action} database {name} on {target.why_protected}: pass --force and type the "
                f"database name back (or --confirm {name})"
            )
        typed = confirm
        if typed is None:
            try:
                typed = typer.prompt(f"This will {action} database {name} on {target.why_protected}. Type its name to go on")
            except (typer.Abort, EOFError):
                typed = None
        if typed != name:
            raise CruddurError(f"the name typed back does not match {name}; nothing was done")
        return
    if yes:
        return
    try:
        ok = typer.confirm(f"{action[:1].upper()}{action[1:]} database {name} on {target.shown}?", default=False)
    except (typer.Abort, EOFError):
        ok = False
    if not ok:
        raise CruddurError(f"not confirmed; nothing was done (pass --yes to {action} database {name} without the "
                           "question)")
