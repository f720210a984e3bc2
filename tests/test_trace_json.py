"""The trace encoder: any value a tool handler returns or raises becomes valid JSON without secrets."""

from __future__ import annotations

import dataclasses
import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel, SecretStr

from product_extractor.server.trace_json import REDACTED, to_trace_value, trace_dumps

SECRET = "sk-live-7f3c9a1e5b2d4680"


class Offer(BaseModel):
    price: Decimal
    note: str


@dataclasses.dataclass
class Visit:
    url: str
    seconds: float


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")

    def __str__(self) -> str:
        raise RuntimeError("str is broken")


def content_blocks(text: str) -> list[Any]:
    return [
        TextContent(type="text", text=text),
        ImageContent(type="image", data="iVBORw0KGgo" + text, mime_type="image/png"),
        AudioContent(type="audio", data="UklGR" + text, mime_type="audio/wav"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(uri="products://jobs/1", text=text, mime_type="text/plain"),
        ),
        EmbeddedResource(
            type="resource",
            resource=BlobResourceContents(uri="products://jobs/2", blob="QUJD" + text, mime_type=None),
        ),
        ResourceLink(type="resource_link", uri="products://jobs/3", name=text or "job"),
    ]


texts = st.text(max_size=40) | st.builds(
    lambda a, b: a + SECRET + b, st.text(max_size=10), st.text(max_size=10)
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(),
    st.dates(),
    st.binary(max_size=64),
    texts.map(lambda text: text.encode()),
    texts.map(lambda text: ValueError(text)),
    texts.map(lambda text: Offer(price=Decimal("9.90"), note=text)),
    texts.map(lambda text: Visit(url=text, seconds=0.5)),
    texts.map(SecretStr),
    texts.map(content_blocks),
    st.builds(Unprintable),
    st.frozensets(st.integers(), max_size=5),
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.tuples(children, children),
        st.dictionaries(texts, children, max_size=5),
        st.sets(st.text(max_size=5), max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_value_gives_json_without_secret(value: Any) -> None:
    line = trace_dumps(value, secrets=[SECRET])
    json.loads(line)
    assert SECRET not in line
    assert "\n" not in line


def test_content_blocks_keep_sizes_not_payloads() -> None:
    encoded = to_trace_value(content_blocks("payload"))
    image = encoded[1]
    assert image["type"] == "image"
    assert image["data"]["length"] == len("iVBORw0KGgopayload")
    assert "payload" not in json.dumps(image)


def test_bytes_keep_length_and_hash() -> None:
    encoded = to_trace_value(b"secret bytes")
    assert encoded["length"] == 12
    assert len(encoded["sha256"]) == 64


def test_exception_keeps_type_message_cause() -> None:
    try:
        try:
            raise KeyError("sku")
        except KeyError as inner:
            raise RuntimeError(f"lookup failed with {SECRET}") from inner
    except RuntimeError as error:
        encoded = to_trace_value(error, secrets=[SECRET])
    assert encoded["type"] == "RuntimeError"
    assert encoded["message"] == f"lookup failed with {REDACTED}"
    assert encoded["cause"]["type"] == "KeyError"


def test_secret_keys_redacted_whatever_value() -> None:
    encoded = to_trace_value({"Authorization": "Bearer abc", "api_key": 12, "url": "https://shop.example/"})
    assert encoded == {"Authorization": REDACTED, "api_key": REDACTED, "url": "https://shop.example/"}


def test_cycles_and_depth_marked() -> None:
    looped: list[Any] = [1]
    looped.append(looped)
    deep: list[Any] = []
    current = deep
    for _ in range(100):
        current.append([])
        current = current[0]
    assert to_trace_value(looped) == [1, "[cycle: list]"]
    assert "deeper than" in trace_dumps(deep)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("49.10"), "49.10"),
        (datetime.datetime(2026, 12, 4, 20, 0), "2026-12-04T20:00:00"),
        (float("inf"), "inf"),
        ({3, 1, 2}, [1, 2, 3]),
        (SecretStr("hunter2"), REDACTED),
    ],
)
def test_scalars_have_stable_forms(value: Any, expected: Any) -> None:
    assert to_trace_value(value) == expected


def test_unprintable_object_named_by_type() -> None:
    encoded = to_trace_value(Unprintable())
    assert encoded["type"] == "Unprintable"
    assert "repr failed" in encoded["repr"]
