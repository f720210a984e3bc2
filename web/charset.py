"""Decode an HTML body the way browsers do: BOM, then header charset, then the document's meta tag."""

from __future__ import annotations

import codecs
import re

# Browsers look for a meta charset in the first 1024 bytes (the WHATWG "prescan"). Real pages
# put it later, behind long head scripts, so this looks a little further.
_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""",
    re.IGNORECASE,
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Valid non-ASCII UTF-8 characters needed per invalid sequence for an undeclared body to
# count as UTF-8 with a few stray bytes. Text in windows-1252 hardly ever forms valid UTF-8
# sequences, so it has almost none of them.
_VALID_PER_INVALID_UTF8 = 10
# WHATWG maps these labels to windows-1252, a superset that decodes what real pages send.
_LABEL_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252"}


def charset_from_content_type(content_type: str) -> str | None:
    """Return the charset parameter of a Content-Type header, if it names a known codec."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return _known_codec(value.strip().strip("\"'"))
    return None


def charset_from_bom(body: bytes) -> str | None:
    """Return the charset that a byte order mark at the start of `body` names."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    return None


def charset_from_meta(body: bytes) -> str | None:
    """Return the charset a `<meta>` tag near the top of the document declares."""
    match = _META_CHARSET.search(body[:_PRESCAN_BYTES])
    if match is None:
        return None
    return _known_codec(match.group(1).decode("ascii", errors="ignore"))


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode `body` and return `(text, charset used)`.

    Without a declared charset the body is read as UTF-8 when it mostly is,
    its few invalid bytes becoming U+FFFD, and as windows-1252 otherwise,
    which decodes any byte. Bytes invalid in a declared charset become U+FFFD
    rather than failing the page.
    """
    # A BOM outranks the header, as in the WHATWG Encoding Standard's "decode" algorithm.
    charset = charset_from_bom(body) or charset_from_content_type(content_type) or charset_from_meta(body)
    if charset is not None:
        return body.decode(charset, errors="replace"), charset

    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass

    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - invalid
    if valid >= _VALID_PER_INVALID_UTF8 * invalid:
        return text, "utf-8"
    return body.decode("cp1252", errors="replace"), "cp1252"


def _known_codec(label: str) -> str | None:
    label = label.lower()
    label = _LABEL_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None
