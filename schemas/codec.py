"""The wire codec: JSON via orjson, for events, table values and projections.

Why it exists: one place decides how bytes become objects and back, so producers in any language
and every consumer agree. It also registers the codec with Faust under the name `orjson`.
"""

from __future__ import annotations

from typing import Any

import orjson

CODEC_NAME = "orjson"


def dumps(obj: Any) -> bytes:
    """Encode to compact UTF-8 JSON; datetimes become RFC 3339, dataclasses and pydantic dumps."""
    return orjson.dumps(obj, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def register_with_faust() -> None:
    """Make `orjson` usable as a Faust key/value serializer (idempotent)."""
    from faust.serializers import codecs

    class _OrjsonCodec(codecs.Codec):
        def _dumps(self, obj: Any) -> bytes:
            return dumps(obj)

        def _loads(self, s: bytes) -> Any:
            return loads(s)

    codecs.register(CODEC_NAME, _OrjsonCodec())
