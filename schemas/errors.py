"""The error every invalid event raises: which fields are wrong and why.

Why it exists: ingest endpoints answer 422 with these field errors and workers put the same reason
on the dead-letter topic, so both speak one format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: `field` is a dotted path such as `disks.0.bytes_transferred`."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidEvent(ValueError):
    """An event that cannot be accepted; `errors` names each bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)

    @classmethod
    def single(cls, field: str, message: str) -> InvalidEvent:
        return cls([FieldError(field, message)])

    @classmethod
    def from_pydantic(cls, exc: ValidationError) -> InvalidEvent:
        return cls([
            FieldError(".".join(str(part) for part in err["loc"]) or "(body)", _message(err))
            for err in exc.errors(include_url=False)
        ])


CONTROL_FREE = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""The pattern of ids: no C0 or C1 control character, no DEL (checked in pydantic's core)."""
NUL_FREE = r"^[^\x00]*$"
"""The pattern of free text: no NUL, which PostgreSQL text and jsonb refuse."""

_FORBIDDEN = {CONTROL_FREE: (re.compile(r"[\x00-\x1f\x7f-\x9f]"), "control characters"),
              NUL_FREE: (re.compile(r"\x00"), "NUL")}


def _message(err: ErrorDetails) -> str:
    # Our own validators' messages are whole sentences: drop pydantic's "Value error, " prefix.
    ctx = err.get("ctx", {})
    if err["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if err["type"] == "string_pattern_mismatch" and ctx.get("pattern") in _FORBIDDEN:
        # Say which character, and where, rather than repeating the pattern.
        forbidden, what = _FORBIDDEN[ctx["pattern"]]
        if isinstance(err["input"], str) and (match := forbidden.search(err["input"])):
            return (f"must not contain {what} "
                    f"(found U+{ord(match.group()):04X} at position {match.start()})")
    return err["msg"]
