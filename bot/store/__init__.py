"""Persistence behind the ``Store`` protocol: ``SqliteStore`` (embedded default) or ``RedisStore`` (replicas).

``open_store(url)`` picks the implementation from a ``STORE_URL``:

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:`` (or ``sqlite://:memory:``)
- ``redis://host:port/db`` or ``rediss://host:port/db`` (TLS)
"""

from __future__ import annotations

from bot.store.base import Store
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore

__all__ = ["RedisStore", "SqliteStore", "Store", "open_store", "sqlite_path"]

_SQLITE = "sqlite://"
_REDIS_SCHEMES = ("redis", "rediss")
_EXPECTED = (
    "expected sqlite:///path/to.db, sqlite:////abs/path.db, sqlite:///:memory: or redis://host:port/db"
)


def sqlite_path(url: str) -> str:
    """The file path (or ``":memory:"``) named by a ``sqlite://`` STORE_URL; ``ValueError`` if there is none."""
    if url[: len(_SQLITE)].lower() != _SQLITE:
        raise ValueError(f"STORE_URL is not a sqlite:// URL; {_EXPECTED}")
    rest = url[len(_SQLITE) :]
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db" (SQLAlchemy's convention).
    if rest.startswith("/") and rest[1:].strip("/"):
        return rest[1:]
    raise ValueError(f"STORE_URL {url!r} names no database file; {_EXPECTED}")


def open_store(url: str) -> Store:
    """The ``Store`` a ``STORE_URL`` names; ``ValueError`` naming STORE_URL for anything unsupported.

    The SQLite file is opened (and its schema created) here; Redis connects lazily on first use.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ValueError(f"STORE_URL has no scheme; {_EXPECTED}")
    scheme = scheme.lower()
    if scheme == "sqlite":
        return SqliteStore(sqlite_path(url))
    if scheme in _REDIS_SCHEMES:
        return RedisStore(url)
    # Only the scheme is echoed: the rest of an unknown URL may carry credentials.
    raise ValueError(f"STORE_URL scheme {scheme!r} is not supported; {_EXPECTED}")
