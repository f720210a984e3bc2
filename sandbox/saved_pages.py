"""A folder of saved shop pages: its index.jsonl, the page files, and lookup by original URL.

The folder format is described in docs/saved-pages-format.md. In short, each
line of index.jsonl is one page with an `id`, a `kind` (product, listing or
other), its original `url`, a `file` relative to the folder (`.gz` means
gzip), an optional declared `encoding`, and the expected values in `labels`.
"""

from __future__ import annotations

import codecs
import gzip
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

SAMPLE_SHOP_DIR = Path(__file__).resolve().parent / "sample_shop"

PAGE_KINDS = ("product", "listing", "other")

# Browsers look for <meta charset> in the first 1,024 bytes; saved pages often
# carry a long <head> before it, so this looks further.
_CHARSET_SCAN_BYTES = 16_384
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class SavedPagesError(ValueError):
    """The saved-pages folder or one of its index lines is invalid."""


@dataclass(frozen=True, slots=True)
class SavedPage:
    """One line of index.jsonl: a saved page and what an extractor should find on it."""

    id: str
    kind: str  # product | listing | other
    url: str  # the original URL the page was saved from
    file: Path  # absolute path of the saved HTML, gzip-compressed when it ends in .gz
    encoding: str | None  # the declared encoding from the index, if any
    labels: Mapping[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    @property
    def product_links(self) -> list[str]:
        """A listing page's product detail links as labelled, absolute; empty for other kinds."""
        links = self.labels.get("product_links", [])
        return [link for link in links if isinstance(link, str)]

    def read_bytes(self) -> bytes:
        """Read the saved page's original bytes, decompressing gzip."""
        data = self.file.read_bytes()
        if self.file.name.endswith(".gz"):
            return gzip.decompress(data)
        return data

    def charset(self, body: bytes) -> str | None:
        """Return the page's Python codec name: the index's `encoding`, else the first meta charset.

        The index wins because some saved pages declare UTF-8 in a meta tag but
        were stored in windows-1252. None means neither names a known codec.
        """
        for candidate in (self.encoding, _find_meta_charset(body)):
            if candidate:
                try:
                    return codecs.lookup(candidate).name
                except LookupError:
                    logger.warning("page %s declares unknown encoding %r; ignoring it", self.id, candidate)
        return None


@dataclass(frozen=True, slots=True)
class Site:
    """The saved pages of one host, each kind in index order."""

    host: str
    products: tuple[SavedPage, ...]
    listings: tuple[SavedPage, ...]
    others: tuple[SavedPage, ...]


class SavedPages:
    """The pages of a saved-pages folder, looked up by original host, path and query."""

    def __init__(self, folder: Path, pages: list[SavedPage]) -> None:
        self.folder = folder
        self.pages = tuple(pages)
        self._by_key: dict[tuple[str, str], SavedPage] = {}
        for page in self.pages:
            key = _lookup_key(page.host, *_path_and_query(page.url))
            if key in self._by_key:
                logger.warning(
                    "pages %s and %s share the URL %s; serving the first",
                    self._by_key[key].id,
                    page.id,
                    page.url,
                )
                continue
            self._by_key[key] = page

    def __iter__(self) -> Iterator[SavedPage]:
        return iter(self.pages)

    def __len__(self) -> int:
        return len(self.pages)

    def find(self, host: str, path: str, query: str = "") -> SavedPage | None:
        """Return the page saved from `host` with this path and query string, or None.

        Percent-encoding does not matter: `/women%27s` finds a page saved as `/women's`.
        """
        return self._by_key.get(_lookup_key(host, path, query))

    @cached_property
    def sites(self) -> dict[str, Site]:
        """Every host in the index, in order of first appearance."""
        grouped: dict[str, dict[str, list[SavedPage]]] = {}
        for page in self.pages:
            by_kind = grouped.setdefault(page.host, {kind: [] for kind in PAGE_KINDS})
            by_kind[page.kind].append(page)
        return {
            host: Site(host, tuple(kinds["product"]), tuple(kinds["listing"]), tuple(kinds["other"]))
            for host, kinds in grouped.items()
        }


def load_saved_pages(folder: Path | str) -> SavedPages:
    """Read `folder`/index.jsonl; raise `SavedPagesError` naming the line that is invalid."""
    folder = Path(folder).resolve()
    index_path = folder / "index.jsonl"
    if not index_path.is_file():
        raise SavedPagesError(f"{index_path} not found; pass a folder in the saved-pages format")

    pages: list[SavedPage] = []
    with index_path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                pages.append(_parse_index_line(folder, line, f"{index_path}:{number}"))

    logger.info("loaded %d saved pages from %s", len(pages), folder)
    return SavedPages(folder, pages)


def _parse_index_line(folder: Path, line: str, where: str) -> SavedPage:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise SavedPagesError(f"{where}: invalid JSON ({error})") from error

    missing = [key for key in ("id", "kind", "url", "file") if not isinstance(row.get(key), str)]
    if missing:
        raise SavedPagesError(f"{where}: missing string key(s) {', '.join(missing)}")
    if row["kind"] not in PAGE_KINDS:
        raise SavedPagesError(f"{where}: kind {row['kind']!r} is not one of {', '.join(PAGE_KINDS)}")
    if urlsplit(row["url"]).scheme not in ("http", "https"):
        raise SavedPagesError(f"{where}: url {row['url']!r} is not an absolute http(s) URL")

    file = (folder / row["file"]).resolve()
    if not file.is_relative_to(folder) or not file.is_file():
        raise SavedPagesError(f"{where}: file {row['file']!r} not found inside {folder}")

    labels = row.get("labels") or {}
    return SavedPage(row["id"], row["kind"], row["url"], file, row.get("encoding"), labels)


def _find_meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body, 0, _CHARSET_SCAN_BYTES)
    return match.group(1).decode("ascii") if match else None


def _path_and_query(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.path or "/", parts.query


def _lookup_key(host: str, path: str, query: str) -> tuple[str, str]:
    path_and_query = unquote(path or "/") + ("?" + unquote(query) if query else "")
    return host.lower(), path_and_query
