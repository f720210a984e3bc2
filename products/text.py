"""Small text and URL helpers shared by the extractors."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

__all__ = [
    "CaselessPattern",
    "absolute_url",
    "clean_text",
    "digits_only",
    "is_placeholder_image",
    "plain_text",
    "same_site",
    "site_key",
]

_TAG = re.compile(r"<[^>]*>")


# Letters of a pattern that rule out `CaselessPattern`: upper-case ASCII letters
# other than escapes such as `\S`, and the non-ASCII letters that
# `re.IGNORECASE` matches to ASCII ones (long s, Kelvin sign, dotless and dotted i).
_UNFOLDABLE_LETTER = re.compile(r"(?<!\\)[A-Z]|[\u017f\u212a\u0131\u0130]")


class CaselessPattern:
    """A `re.IGNORECASE` pattern, searched faster on ASCII text.

    `re.IGNORECASE` makes a search several times slower. On ASCII text,
    lower-casing the text and searching with a case-sensitive copy of the
    pattern finds the same matches, because every letter the pattern spells
    out is lower-case (the constructor raises ValueError otherwise). Other
    text goes to the `re.IGNORECASE` pattern, which also folds non-ASCII
    letters such as the Kelvin sign (U+212A) to "k".
    """

    __slots__ = ("_caseless", "_folded")

    def __init__(self, caseless: re.Pattern[str]) -> None:
        if not caseless.flags & re.IGNORECASE or _UNFOLDABLE_LETTER.search(caseless.pattern):
            raise ValueError(
                f"CaselessPattern needs a re.IGNORECASE pattern spelled in lower case, got {caseless!r}."
                " Write its letters in lower case, or search with the re.Pattern itself."
            )
        self._caseless = caseless
        self._folded = re.compile(caseless.pattern)

    def search(self, text: str) -> bool:
        """Tell whether the pattern matches anywhere in `text`."""
        if text.isascii():
            return self._folded.search(text.lower()) is not None
        return self._caseless.search(text) is not None

    def sub(self, replacement: str, text: str) -> str:
        """Replace every match in `text`, as `re.Pattern.sub` of the `re.IGNORECASE` pattern does."""
        return self._caseless.sub(replacement, text)


def clean_text(value: object) -> str | None:
    """Return `value` HTML-unescaped with whitespace collapsed, or None when nothing is left.

    >>> clean_text("  Caf&eacute;\\n  Cr&egrave;me ")
    'Café Crème'
    """
    # Strings first, because they are nearly every call.
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        value = str(value)

    # `str.split()` splits at the characters that `\s` matches in a `str` pattern
    # (`str.isspace`), so this collapses runs as `re.sub(r"\s+", " ", …).strip()`
    # would, in less time.
    text = " ".join(html.unescape(value).split())
    return text or None


def plain_text(value: object) -> str | None:
    """Return `value` as plain text: tags removed, entities unescaped, whitespace collapsed.

    Tags are removed after unescaping too, because shops put escaped markup in
    JSON-LD descriptions ("&lt;br /&gt;").

    >>> plain_text("Fits&lt;br /&gt;all <b>sizes</b> &amp; ages")
    'Fits all sizes & ages'
    """
    text = clean_text(value)
    if text is None:
        return None
    return clean_text(_TAG.sub(" ", html.unescape(_TAG.sub(" ", text))))


def digits_only(value: object) -> str | None:
    """Return the digits of a GTIN-like value, or None when it has none.

    >>> digits_only("0 99482-46799 9")
    '099482467999'
    """
    text = clean_text(value)
    if text is None:
        return None
    digits = re.sub(r"\D", "", text)
    return digits or None


def absolute_url(href: object, base: str) -> str | None:
    """Resolve `href` against `base`: None for empty, fragment, `javascript:`, `data:`, `mailto:`, `tel:`."""
    text = clean_text(href)
    if text is None:
        return None
    if text.startswith("//"):
        text = (urlsplit(base).scheme or "https") + ":" + text
    lowered = text.lower()
    if lowered.startswith(("javascript:", "data:", "mailto:", "tel:", "#")):
        return None
    try:
        resolved = urljoin(base, text)
    except ValueError:
        return None
    return resolved if resolved.startswith(("http://", "https://")) else None


# Cached because a listing page asks about the same few hosts' URLs thousands of times.
@lru_cache(maxsize=4096)
def site_key(url: str) -> str:
    """Return a host's registrable part for same-site checks: "www.shop.co.uk" gives "shop.co.uk".

    NOTE: this is a heuristic (last two labels, three when the second-to-last is a
    short second-level label such as "co" or "com"), not the Public Suffix List.
    """
    host = (urlsplit(url).hostname or "").lower()
    labels = host.split(".")
    if (
        len(labels) >= 3
        and len(labels[-1]) == 2
        and labels[-2] in {"co", "com", "org", "net", "ac", "gov", "ne"}
    ):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def same_site(url: str, site: str) -> bool:
    """Return whether `url` belongs to the same site as `site` (another URL)."""
    return site_key(url) == site_key(site)


# File names of loading spinners, 1x1 spacer pixels and "no image" stand-ins,
# which lazy-loading pages put in `src` until a script swaps the real image in.
_PLACEHOLDER_IMAGE_NAME = re.compile(
    r"^(?:.*[-_])?(?:spinner|loading|loader|ajax-loader|placeholder|blank|spacer|pixel|1x1|transparent|clear"
    r"|empty|no-?image|no_image|noimg|lazy)$",
    re.IGNORECASE,
)


def is_placeholder_image(url: str) -> bool:
    """Tell whether an image URL is a stand-in rather than a picture: a data: URI, a spinner or a 1x1 pixel.

    The file name up to its first dot decides ("transparent-pixel._V192234675_.gif").

    >>> is_placeholder_image("https://ir.ebaystatic.com/pictures/skin/gif/spinner.gif")
    True
    >>> is_placeholder_image("https://cdn.example.com/pixel-8-pro.jpg")
    False
    """
    if url.lower().startswith("data:"):
        return True
    name = urlsplit(url).path.rsplit("/", 1)[-1].split(".", 1)[0]
    return bool(_PLACEHOLDER_IMAGE_NAME.match(name))
