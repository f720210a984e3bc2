"""The page cache: fetched pages kept on disk for a while, so a repeated call sends no request.

Pages are stored in a diskcache folder (an SQLite index plus one file per page),
which several server processes can share. An entry's key is the call's backend
and the page's normalised URL, so a page fetched directly never serves a Bright
Data call or the reverse. An entry expires `ttl_s` seconds after it was stored.
Only successful HTML pages are stored: never an error, a bot wall or an empty
page.

diskcache is synchronous and compressing a page takes a few milliseconds, so
every cache operation runs in a worker thread. A cache folder that cannot be
opened, or turns out corrupt, never fails a fetch: the cache logs one warning and
turns itself off for the rest of the process.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread
import diskcache
import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError

from product_extractor.web.blocked import blocked_reason
from product_extractor.web.fetcher import Fetcher, Page

__all__ = ["CachedFetcher", "PageCache", "PageCacheConfig", "cache_key_url", "default_cache_dir"]

logger = logging.getLogger(__name__)

# Part of every key, so entries written in another format are never read; they expire.
FORMAT_VERSION = 1

# Response headers stored with a page: the ones that describe its content, not the transfer.
STORED_HEADERS = ("content-type", "content-language", "last-modified", "etag")
# An entry keeps the page decoded, so a cached page's body is that text in UTF-8, whatever
# charset its stored Content-Type header names.
CACHED_CONTENT_TYPE = "text/html; charset=utf-8"

# Seconds an operation waits for another process's write before it gives up: a lookup then
# counts as a miss and a store is skipped. diskcache's own default is 60 s.
LOCK_TIMEOUT_S = 2

# Measured on the 175 saved real pages on one core of an Intel Xeon: zlib level 1 made
# them 4.85 times smaller in about 3 ms a page, level 6 made them 5.84 times smaller in about 8 ms.
ZLIB_LEVEL = 1

# Worker threads that use the cache at once. SQLite lets one writer in at a time, so more
# threads would mostly wait for its lock while holding threads of anyio's shared pool.
CACHE_THREADS = 4

T = TypeVar("T")


def default_cache_dir() -> Path:
    """Return the user's page cache folder: on Linux `$XDG_CACHE_HOME/product-extractor/pages`.

    `$XDG_CACHE_HOME` defaults to `~/.cache`; other systems get their own cache folder from platformdirs.
    """
    return platformdirs.user_cache_path("product-extractor", appauthor=False) / "pages"


def cache_key_url(url: str) -> str:
    """Return `url` in the form the page cache keys it by.

    The scheme and host are lower-cased, an internationalised host takes its IDNA
    form, the default port and the fragment are dropped, and an empty path becomes
    "/". A server receives the same request for every such spelling. The path and
    query stay as given, query order included, because a shop may tell them apart.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return urlunsplit(parts._replace(fragment=""))

    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{host}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def entry_key(backend: str, url: str) -> str:
    return f"page/v{FORMAT_VERSION} {backend} {cache_key_url(url)}"


@dataclass(frozen=True, slots=True)
class PageCacheConfig:
    """Folder, time to live and size limit of the page cache."""

    directory: Path
    ttl_s: float = 3600.0  # seconds a page is served after it was fetched
    size_limit_bytes: int = 512 * 1024 * 1024  # beyond this the least recently stored pages go


class _Entry(BaseModel):
    """A cached page as stored: compressed JSON, never a pickle."""

    model_config = ConfigDict(frozen=True)

    url: str  # final URL, after redirects
    status: int
    headers: dict[str, str]
    text: str
    redirects: list[str]
    backend: str  # what served the page when it was fetched, as `Page.backend` names it
    fetched_at: float  # seconds since the epoch; wall time, so other processes can read the age


class PageCache:
    """Pages on disk in a diskcache folder, shared safely between processes.

    Opens its folder on first use. Each operation runs in a worker thread on its
    own SQLite connection and closes it afterwards, so no connection outlives the
    operation that opened it.
    """

    def __init__(self, config: PageCacheConfig) -> None:
        self.config = config
        self._cache: diskcache.Cache | None = None
        self._off_reason: str | None = None  # why the cache turned itself off
        self._closed = False
        self._open_lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(CACHE_THREADS)
        self._warned: set[str] = set()
        # Operations skipped because another process held the write lock past LOCK_TIMEOUT_S.
        self.busy_skips = 0

    @property
    def usable(self) -> bool:
        return self._off_reason is None and not self._closed

    async def get(self, backend: str, url: str) -> Page | None:
        """Return the cached page of `url` for `backend` with `cache_age_s` set, or None on a miss."""
        if not self.usable:
            return None
        return await anyio.to_thread.run_sync(self._get, backend, url, limiter=self._limiter)

    async def put(self, backend: str, url: str, page: Page) -> None:
        """Store `page`, fetched for `url` by `backend`, unless it failed, is a bot wall or is empty."""
        if not self.usable or page.cache_age_s is not None or not 200 <= page.status < 300:
            return
        fetched_at = time.time()
        await anyio.to_thread.run_sync(self._put, backend, url, page, fetched_at, limiter=self._limiter)

    async def aclose(self) -> None:
        """Stop using the folder; later lookups miss and stores are skipped.

        No connection is left to close, because each operation closes its own.
        """
        self._closed = True
        self._cache = None

    def _get(self, backend: str, url: str) -> Page | None:
        started = time.monotonic()
        key = entry_key(backend, url)
        value = self._run("reading a page", lambda cache: cache.get(key))
        if value is None:
            return None

        try:
            if not isinstance(value, bytes):
                raise TypeError(f"the entry is {type(value).__name__}, not bytes")
            entry = _Entry.model_validate_json(zlib.decompress(value))
        except (TypeError, zlib.error, ValidationError) as error:
            self._warn_once(
                "unreadable-entry", "page cache: dropping an unreadable entry for %s: %s", url, error
            )
            self._run("deleting an unreadable entry", lambda cache: cache.delete(key))
            return None

        # A process with a shorter TTL than the one that stored the entry does not serve it.
        age = max(0.0, time.time() - entry.fetched_at)
        if age > self.config.ttl_s:
            return None
        logger.debug("page cache: %s served from %s, %.0f s old", url, backend, age)
        return Page(
            url=entry.url,
            requested_url=url,
            status=entry.status,
            headers=entry.headers,
            body=entry.text.encode("utf-8"),
            content_type=CACHED_CONTENT_TYPE,
            elapsed=time.monotonic() - started,
            requests=0,
            billed_requests=0,
            redirects=entry.redirects,
            backend=entry.backend,
            cache_age_s=age,
        )

    def _put(self, backend: str, url: str, page: Page, fetched_at: float) -> None:
        reason = blocked_reason(page)
        if reason is not None:
            logger.debug("page cache: not storing %s, it looks like %s", url, reason)
            return

        entry = _Entry(
            url=page.url,
            status=page.status,
            headers={name: page.headers[name] for name in STORED_HEADERS if name in page.headers},
            text=page.text,
            redirects=page.redirects,
            backend=page.backend,
            fetched_at=fetched_at,
        )
        try:
            value = zlib.compress(entry.model_dump_json().encode("utf-8"), ZLIB_LEVEL)
        except ValueError as error:
            # A text with a lone surrogate cannot be UTF-8, and a body that declares UTF-7 can decode to one.
            self._warn_once("unencodable-page", "page cache: not storing %s: %s", url, error)
            return
        key = entry_key(backend, url)
        self._run("storing a page", lambda cache: cache.set(key, value, expire=self.config.ttl_s))

    def _run(self, operation: str, action: Callable[[diskcache.Cache], T]) -> T | None:
        """Run `action` on the cache in this worker thread, or return None when it is off or busy."""
        cache = self._open()
        if cache is None:
            return None
        try:
            return action(cache)
        except diskcache.Timeout:
            self._busy(operation)
            return None
        except sqlite3.OperationalError as error:
            if _is_lock_error(error):
                self._busy(operation)
            else:
                self._turn_off(f"{operation} failed: {error}")
            return None
        except (sqlite3.Error, OSError) as error:
            self._turn_off(f"{operation} failed: {type(error).__name__}: {error}")
            return None
        except Exception as error:
            # Such as diskcache unpickling a value that another program stored in the folder.
            self._turn_off(f"{operation} failed: {type(error).__name__}: {error}", exc_info=True)
            return None
        finally:
            # diskcache keeps one connection per thread; closing it here keeps worker threads
            # from holding connections (and their file descriptors) between operations.
            with contextlib.suppress(sqlite3.Error):
                cache.close()

    def _open(self) -> diskcache.Cache | None:
        with self._open_lock:
            if not self.usable:
                return None
            if self._cache is None:
                try:
                    self._cache = diskcache.Cache(
                        str(self.config.directory),
                        timeout=LOCK_TIMEOUT_S,
                        size_limit=self.config.size_limit_bytes,
                        eviction_policy="least-recently-stored",
                    )
                except (OSError, sqlite3.Error, diskcache.Timeout) as error:
                    self._turn_off(f"it could not be opened: {type(error).__name__}: {error}")
                    return None
            return self._cache

    def _busy(self, operation: str) -> None:
        self.busy_skips += 1
        logger.debug(
            "page cache: %s skipped, another process held the lock for %g s (%d skipped so far)",
            operation,
            LOCK_TIMEOUT_S,
            self.busy_skips,
        )

    def _turn_off(self, reason: str, *, exc_info: bool = False) -> None:
        if self._off_reason is not None:
            return
        self._off_reason = reason
        logger.warning(
            "page cache in %s turned off for this process, because %s. Pages are fetched without "
            "the cache; set PRODUCT_EXTRACTOR_CACHE_DIR to a writable folder, or delete a corrupt "
            "one, and restart the server",
            self.config.directory,
            reason,
            exc_info=exc_info,
        )

    def _warn_once(self, kind: str, message: str, *arguments: object) -> None:
        level = logging.DEBUG if kind in self._warned else logging.WARNING
        self._warned.add(kind)
        logger.log(level, message, *arguments)


def _is_lock_error(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message


class CachedFetcher:
    """A `Fetcher` that serves pages from a `PageCache` and stores the pages `inner` fetches.

    `backend` is the call's backend (direct, brightdata or auto), the part of the
    key that keeps backends apart. With `read=False` it skips the lookup but still
    stores what it fetches, so the fresh pages replace the cached ones.
    """

    def __init__(self, inner: Fetcher, cache: PageCache, *, backend: str, read: bool = True) -> None:
        self.inner = inner
        self.cache = cache
        self.backend = backend
        self.read = read
        self.backend_name = inner.backend_name

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def fetch(self, url: str) -> Page:
        if self.read:
            cached = await self.cache.get(self.backend, url)
            if cached is not None:
                return cached

        page = await self.inner.fetch(url)
        # A cancellation during the store waits for the worker thread, so a page that was paid
        # for is on disk before the call ends.
        await self.cache.put(self.backend, url, page)
        return page
