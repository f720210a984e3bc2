"""Turn anything a tool handler returns or raises into JSON for an execution trace, without ever raising.

Traces must survive whatever a handler produces: MCP content blocks (with
base64 payloads), pydantic models, dataclasses, decimals, dates, bytes,
exceptions, sets, cycles and objects of any other type. Secrets are replaced
wherever they appear, in values and in keys.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from mcp.types import AudioContent, BlobResourceContents, ImageContent
from pydantic import BaseModel, SecretBytes, SecretStr

REDACTED = "[redacted]"
MAX_DEPTH = 24  # nesting levels kept; deeper values become a marker
MAX_STRING_CHARS = 4_000  # longer strings are cut, with the full length noted
MAX_ITEMS = 500  # items kept from one list, set or mapping
MAX_REPR_CHARS = 200  # characters kept from the repr of an unknown object
# Keys whose values are secrets whatever they hold.
SECRET_KEYS = ("token", "secret", "password", "authorization", "api_key", "apikey", "cookie")


def trace_dumps(value: Any, *, secrets: Iterable[str] = ()) -> str:
    """Return `value` as one line of JSON with `secrets` replaced; never raises."""
    encoder = _Encoder([secret for secret in secrets if secret])
    try:
        return json.dumps(
            encoder.encode(value, 0), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
    except Exception as error:  # the encoder's own guard failed; keep the trace line valid JSON
        return json.dumps({"type": "unencodable", "error": encoder.text(f"{type(error).__name__}: {error}")})


def to_trace_value(value: Any, *, secrets: Iterable[str] = ()) -> Any:
    """Return `value` converted to JSON-ready data (dicts, lists, strings, numbers); never raises."""
    encoder = _Encoder([secret for secret in secrets if secret])
    try:
        return encoder.encode(value, 0)
    except Exception as error:
        return {"type": "unencodable", "error": encoder.text(f"{type(error).__name__}: {error}")}


class _Encoder:
    def __init__(self, secrets: list[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted(set(secrets), key=len, reverse=True)
        self.active: set[int] = set()  # ids of containers being encoded, to catch cycles

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        if len(value) > MAX_STRING_CHARS:
            return value[:MAX_STRING_CHARS] + f"...[cut, {len(value)} characters]"
        return value

    def encode(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, str):
            return self.text(value)
        if depth >= MAX_DEPTH:
            return f"[deeper than {MAX_DEPTH} levels]"

        scalar = self._scalar(value)
        if scalar is not None:
            return scalar

        identity = id(value)
        if identity in self.active:
            return f"[cycle: {type(value).__name__}]"
        self.active.add(identity)
        try:
            return self._container(value, depth)
        except Exception as error:
            return {"type": type(value).__name__, "error": self.text(f"{type(error).__name__}: {error}")}
        finally:
            self.active.discard(identity)

    def _scalar(self, value: Any) -> Any:
        """Return the JSON form of a value that contains no other values, or None."""
        if isinstance(value, SecretStr | SecretBytes):
            return REDACTED
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            return value.isoformat()
        if isinstance(value, datetime.timedelta):
            return value.total_seconds()
        if isinstance(value, uuid.UUID | PurePath):
            return str(value)
        if isinstance(value, enum.Enum):
            return self.encode(value.value, MAX_DEPTH - 1)
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            return {"type": "bytes", "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return None

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, BaseException):
            return self._exception(value, depth)
        if isinstance(value, ImageContent | AudioContent):
            return {
                "type": value.type,
                "mime_type": self.text(value.mime_type),
                "data": _payload_summary(value.data),
            }
        if isinstance(value, BlobResourceContents):
            return {
                "uri": self.text(str(value.uri)),
                "mime_type": self.text(value.mime_type or ""),
                "blob": _payload_summary(value.blob),
            }
        if isinstance(value, BaseModel):
            return self._mapping(_model_fields(value), depth, type_name=type(value).__name__)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {field.name: getattr(value, field.name, None) for field in dataclasses.fields(value)}
            return self._mapping(fields, depth, type_name=type(value).__name__)
        if isinstance(value, Mapping):
            return self._mapping(value, depth, type_name=None)
        if isinstance(value, list | tuple):
            return self._items(value, depth)
        if isinstance(value, set | frozenset):
            return self._items(sorted(value, key=_sort_key), depth)
        return self._unknown(value)

    def _mapping(self, value: Mapping[Any, Any], depth: int, *, type_name: str | None) -> dict[str, Any]:
        encoded: dict[str, Any] = {"type": type_name} if type_name else {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                encoded["[cut]"] = f"{len(value) - MAX_ITEMS} more entries"
                break
            name = self.text(key if isinstance(key, str) else _safe_repr(key))
            if any(marker in name.lower() for marker in SECRET_KEYS):
                encoded[name] = REDACTED
            else:
                encoded[name] = self.encode(item, depth + 1)
        return encoded

    def _items(self, values: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        encoded = [self.encode(item, depth + 1) for item in values[:MAX_ITEMS]]
        if len(values) > MAX_ITEMS:
            encoded.append(f"[cut, {len(values) - MAX_ITEMS} more items]")
        return encoded

    def _exception(self, error: BaseException, depth: int) -> dict[str, Any]:
        encoded: dict[str, Any] = {"type": type(error).__name__, "message": self.text(_safe_str(error))}
        cause = error.__cause__ or error.__context__
        if cause is not None and depth + 1 < MAX_DEPTH:
            encoded["cause"] = self.encode(cause, depth + 1)
        if isinstance(error, BaseExceptionGroup):
            encoded["exceptions"] = self._items(list(error.exceptions), depth)
        return encoded

    def _unknown(self, value: Any) -> dict[str, str]:
        return {"type": type(value).__name__, "repr": self.text(_safe_repr(value)[:MAX_REPR_CHARS])}


def _model_fields(model: BaseModel) -> dict[str, Any]:
    """Return a model's fields one level deep, under their wire names (aliases such as `_meta`)."""
    fields: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        fields[info.alias or name] = getattr(model, name, None)
    return fields


def _payload_summary(data: str) -> dict[str, Any]:
    """Describe a base64 payload by size and hash; the bytes themselves stay out of the trace."""
    return {"length": len(data), "sha256": hashlib.sha256(data.encode("utf-8", "replace")).hexdigest()}


def _sort_key(value: Any) -> str:
    return f"{type(value).__name__}:{_safe_repr(value)}"


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as error:
        return f"<{type(value).__name__}: repr failed with {type(error).__name__}>"


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception as error:
        return f"<str failed with {type(error).__name__}>"
