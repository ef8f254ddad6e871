"""Reading and writing ``.env`` files (``KEY=value`` lines), the one place that knows their quoting.

Writes are atomic: the new content goes to a temp file in the same folder (mode 0600), is fsynced, then
``os.replace``d over ``.env``, so a full disk or a crash leaves the old file whole, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from ops.errors import CruddurError

SAFE_CHARS = "-_./:@%?=&+,~"


def quote(value: str) -> str:
    """``value`` as written after ``KEY=``: bare when plain, else double-quoted with escapes."""
    if value and all(c.isalnum() or c in SAFE_CHARS for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
    return f'"{escaped}"'


def _key(line: str) -> str:
    return line.split("=", 1)[0].removeprefix("export ").strip()


def read_raw(path: Path) -> dict[str, str]:
    """``KEY -> text after "KEY="`` for each ``KEY=...`` line (first one wins; quoting kept as written).
    A missing file reads as empty."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith(("#", "export ")) and key == key.strip():
            values.setdefault(key, value)
    return values


def unquote(raw: str) -> str:
    """The value ``quote`` wrote (``raw`` as ``read_raw`` returns it): a double-quoted value loses its quotes and
    escapes, a single-quoted one its quotes; a bare value is returned as it is."""
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], raw[1:-1], flags=re.DOTALL)
    return raw


def read(path: Path) -> dict[str, str]:
    """``KEY -> value`` (unquoted) for each ``KEY=...`` line, as ``read_raw`` finds them. A missing file reads as
    empty."""
    return {key: unquote(value) for key, value in read_raw(path).items()}


def merge(path: Path, values: dict[str, str], remove: tuple[str, ...] = (), header: str | None = None) -> None:
    """Set ``values`` in a dotenv file (keeping its other lines), or remove keys; file mode 0600, written atomically.
    ``header`` (a ``# ...`` comment line) starts a file that does not exist yet."""
    lines = path.read_text().splitlines() if path.exists() else ([header] if header else [])
    keys = set(values) | set(remove)
    kept = [line for line in lines if _key(line) not in keys]
    kept += [f"{key}={quote(value)}" for key, value in values.items()]
    try:
        write_atomic(path, "\n".join(kept) + ("\n" if kept else ""))
    except OSError as exc:
        raise CruddurError(f"cannot write {path}: {exc.strerror or exc}; the file is unchanged") from None


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text``: temp file in the same folder, fsync, ``os.replace``, then fsync the folder."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # durability of the rename; not every filesystem allows it
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
