"""Sandbox URLs, and rewriting a saved page's same-site links so they stay on the sandbox.

A page saved from https://www.shop.example/a/b?c=1 is served at
`<base>/www.shop.example/a/b?c=1`. The rewriting works on the page's bytes
(through a latin-1 view, which maps each byte to one character and back), so
text in any ASCII-compatible encoding passes through unchanged.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

# Only these tags carry links a fetcher follows: <a>/<area> for product links,
# <link rel=next|prev> for pagination, and <base> because it changes how every
# relative link resolves. <img src>, <link rel=canonical> and structured data
# keep their original URLs, so image and canonical labels still match.
# NOTE: tags are found by pattern, not parsed, so a quoted ">" inside a tag
# cuts it short, and tags inside comments and script strings are rewritten too.
_TAG = re.compile(r"<(a|area|link|base)\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_REL = re.compile(r"""\srel\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_SCHEME_AND_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*")
_PAGINATION_RELS = {"next", "prev", "previous"}

# Encodings in which ASCII bytes do not encode ASCII characters, so a byte
# pattern such as `href=` cannot be found in them.
_NOT_ASCII_COMPATIBLE = ("utf-16", "utf-32", "utf_16", "utf_32")


def sandbox_url(base_url: str, original_url: str) -> str:
    """Return the sandbox URL serving `original_url`; the fragment is dropped.

    >>> sandbox_url("http://127.0.0.1:8000", "https://www.ikea.com/gb/en/p/x-00293772/?a=1#top")
    'http://127.0.0.1:8000/www.ikea.com/gb/en/p/x-00293772/?a=1'
    """
    parts = urlsplit(original_url)
    host = (parts.hostname or "").lower()
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url.rstrip('/')}/{host}{parts.path or '/'}{query}"


def rewrite_links(
    body: bytes,
    *,
    page_url: str,
    base_url: str,
    same_site_hosts: Iterable[str],
    charset: str | None = None,
) -> bytes:
    """Point a saved page's same-site links at the sandbox and return the new bytes.

    Absolute, protocol-relative and root-relative `href`s whose host is the
    page's, its `<base href>`'s, or one of `same_site_hosts` become
    `<base_url>/<host>/<path>`. Links to other hosts, relative-path links
    (they resolve against the sandbox URL already) and non-HTTP links are left
    alone. `<base href>` is rewritten to its sandbox URL, whatever its host,
    so no relative link can resolve off the sandbox.
    """
    if charset and charset.lower().startswith(_NOT_ASCII_COMPATIBLE):
        # NOTE: pages in UTF-16 or UTF-32 are served with their links unchanged.
        return body

    text = body.decode("latin-1")
    document_base = _document_base(text, page_url)
    hosts = {host.lower() for host in same_site_hosts}
    hosts.update(filter(None, ((urlsplit(url).hostname or "") for url in (page_url, document_base))))

    def rewrite_tag(tag_match: re.Match[str]) -> str:
        tag = tag_match.group(0)
        name = tag_match.group(1).lower()
        if name == "base":
            return _HREF.sub(lambda href: _rewrite_base_href(href, page_url, base_url), tag, count=1)
        if name == "link" and not _is_pagination_link(tag):
            return tag
        return _HREF.sub(lambda href: _rewrite_href(href, document_base, base_url, hosts), tag, count=1)

    return _TAG.sub(rewrite_tag, text).encode("latin-1")


def _document_base(text: str, page_url: str) -> str:
    """Return the URL relative links resolve against on the original site."""
    for tag_match in _TAG.finditer(text):
        if tag_match.group(1).lower() != "base":
            continue
        href = _HREF.search(tag_match.group(0))
        if href:
            resolved = urljoin(page_url, html.unescape(_href_value(href)).strip())
            if urlsplit(resolved).scheme in ("http", "https"):
                return resolved
    return page_url


def _is_pagination_link(tag: str) -> bool:
    rel = _REL.search(tag)
    if not rel:
        return False
    value = rel.group(1) or rel.group(2) or rel.group(3) or ""
    return bool(_PAGINATION_RELS & set(value.lower().split()))


def _href_value(href: re.Match[str]) -> str:
    for group in (2, 3, 4):
        value = href.group(group)
        if value is not None:
            return value
    return ""


def _replace_href_value(href: re.Match[str], new_value: str) -> str:
    """Return the matched `href=...` text with its value replaced, keeping the quote style."""
    whole = href.group(0)
    for group in (2, 3, 4):
        if href.group(group) is not None:
            start = href.start(group) - href.start(0)
            end = href.end(group) - href.start(0)
            return whole[:start] + new_value + whole[end:]
    return whole


def _rewrite_href(href: re.Match[str], document_base: str, base_url: str, hosts: set[str]) -> str:
    raw = _href_value(href).strip()
    value = html.unescape(raw)

    authority = _SCHEME_AND_AUTHORITY.match(raw)
    if not authority and not value.startswith("/"):
        return href.group(0)  # relative path, fragment, mailto:, javascript: ...

    absolute = urlsplit(urljoin(document_base, value))
    host = (absolute.hostname or "").lower()
    if absolute.scheme not in ("http", "https") or host not in hosts:
        return href.group(0)

    # Keep the raw path and query (entities such as &amp; included) byte for byte.
    rest = raw[authority.end() :] if authority else raw
    if not rest.startswith("/"):
        rest = "/" + rest
    return _replace_href_value(href, f"{base_url.rstrip('/')}/{host}{rest}")


def _rewrite_base_href(href: re.Match[str], page_url: str, base_url: str) -> str:
    resolved = urljoin(page_url, html.unescape(_href_value(href)).strip())
    if urlsplit(resolved).scheme in ("http", "https"):
        return _replace_href_value(href, sandbox_url(base_url, resolved))

    # A non-HTTP base would make every relative link unusable; keep the value
    # for readers but take away its effect.
    return re.sub("href", "data-sandbox-original-href", href.group(0), count=1, flags=re.IGNORECASE)
