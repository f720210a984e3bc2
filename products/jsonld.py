"""JSON-LD blocks (`<script type="application/ld+json">`) to parsed JSON, tolerating the usual breakage."""

from __future__ import annotations

import json
import re
from typing import Any

from selectolax.lexbor import LexborHTMLParser

__all__ = ["jsonld_blocks"]

_COMMENTS = re.compile(r"/\*.*?\*/|<!--|-->|^\s*//.*?$", re.DOTALL | re.MULTILINE)
_CDATA = re.compile(r"<!\[CDATA\[|\]\]>")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _loads(text: str) -> Any:
    """Parse one block, raising ValueError when even the repaired text is not JSON."""
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass

    repaired = _CDATA.sub("", text)
    repaired = _COMMENTS.sub("", repaired)
    repaired = _TRAILING_COMMA.sub(r"\1", repaired)
    repaired = _CONTROL_CHARACTERS.sub(" ", repaired).strip().rstrip(";")
    try:
        return json.loads(repaired, strict=False)
    except ValueError:
        pass

    # Several objects pasted into one script without a surrounding array.
    decoder = json.JSONDecoder(strict=False)
    values: list[Any] = []
    position = 0
    while position < len(repaired):
        while position < len(repaired) and repaired[position] in " \t\r\n,":
            position += 1
        if position >= len(repaired):
            break
        value, position = decoder.raw_decode(repaired, position)
        values.append(value)
    return values


def jsonld_blocks(tree: LexborHTMLParser) -> list[Any]:
    """Return the parsed content of every JSON-LD script, skipping blocks that stay invalid after repair."""
    blocks: list[Any] = []
    for script in tree.css("script"):
        kind = (script.attributes.get("type") or "").lower()
        if "ld+json" not in kind:
            continue
        text = script.text(deep=True) or ""
        if not text.strip():
            continue
        try:
            blocks.append(_loads(text))
        except (ValueError, RecursionError):
            continue
    return blocks
