"""Where a running `make run` (`buying-groups dev`) serves its database and Redis, written to
the data directory while it runs, so that the command line in another terminal finds them when
DATABASE_URL is not set (`buying-groups tenant create`, `import`, `keys`, ...)."""

from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "dev-servers.json"


def record(data_dir: Path, database_url: str, redis_url: str) -> Path:
    path = data_dir / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "databaseUrl": database_url,
                                "redisUrl": redis_url}))
    path.chmod(0o600)  # the URL may hold a password
    return path


def forget(data_dir: Path) -> None:
    path = data_dir / NAME
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running(data_dir: Path) -> tuple[str, str] | None:
    """The database and Redis URLs of the `make run` that runs now from this data directory;
    None when none does (no file, or its process is gone)."""
    try:
        found = json.loads((data_dir / NAME).read_text())
        os.kill(int(found["pid"]), 0)
        return str(found["databaseUrl"]), str(found["redisUrl"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
