"""The dev seed (``sql/seed/*.sql``, idempotent) and generated load data (COPY, with progress)."""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops.db.connections import cursor
from ops.db.target import DbTarget
from ops.errors import CruddurError
from ops.paths import SEED_DIR

BATCH = 5_000


@dataclass(frozen=True)
class SeedResult:
    users: int
    activities: int


def _counts(cur) -> tuple[int, int]:
    cur.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM activities)")
    users, activities = cur.fetchone()
    return users, activities


def seed(target: DbTarget, *, directory: Path = SEED_DIR) -> SeedResult:
    """Run every seed file in order in one transaction. Returns how many rows were inserted (0, 0 when re-run)."""
    files = sorted(directory.glob("*.sql"))
    with cursor(target) as cur:
        before = _counts(cur)
        for path in files:
            cur.execute(path.read_text())
        after = _counts(cur)
    return SeedResult(after[0] - before[0], after[1] - before[1])


def load(
    target: DbTarget,
    *,
    users: int,
    activities: int,
    progress: Callable[[str, int], None] | None = None,
    rng: random.Random | None = None,
) -> SeedResult:
    """Generate ``users`` users and ``activities`` activities with COPY in batches (load/benchmark data).

    Activities are spread over the new users (or the existing ones when ``users`` is 0). ``progress(kind, n)``
    is called after each batch with the number of rows just written.
    """
    rng = rng or random.Random()
    report = progress or (lambda kind, n: None)
    with cursor(target) as cur:
        user_ids: list[str] = []
        for start in range(0, users, BATCH):
            buf = io.StringIO()
            for _ in range(min(BATCH, users - start)):
                uid = uuid.UUID(int=rng.getrandbits(128), version=4)
                tag = uid.hex[:12]
                user_ids.append(str(uid))
                buf.write(f"{uid}\tLoad User {tag}\tload_{tag}\tload_{tag}@example.com\tload-{uid}\n")
            buf.seek(0)
            cur.copy_expert("COPY users (uuid, display_name, handle, email, cognito_user_id) FROM STDIN", buf)
            report("users", min(BATCH, users - start))
        if activities and not user_ids:
            cur.execute("SELECT uuid::text FROM users")
            user_ids = [row[0] for row in cur.fetchall()]
            if not user_ids:
                raise CruddurError("no users to attach activities to; add --users N or run: cruddur db seed")
        now = datetime.now(UTC)
        for start in range(0, activities, BATCH):
            buf = io.StringIO()
            for i in range(min(BATCH, activities - start)):
                aid = uuid.UUID(int=rng.getrandbits(128), version=4)
                # created_at spread over the last 30 days, so the feed indexes have an order to serve
                created = now - timedelta(seconds=rng.randint(0, 30 * 24 * 3600))
                buf.write(
                    f"{aid}\t{rng.choice(user_ids)}\tLoad activity {start + i}: {aid.hex[:8]}\t"
                    f"{rng.randint(0, 5)}\t{rng.randint(0, 20)}\t{created.isoformat()}\n"
                )
            buf.seek(0)
            cur.copy_expert(
                "COPY activities (uuid, user_uuid, message, reposts_count, likes_count, created_at) FROM STDIN", buf
            )
            report("activities", min(BATCH, activities - start))
        cur.execute("ANALYZE users")
        cur.execute("ANALYZE activities")
    return SeedResult(users, activities)
