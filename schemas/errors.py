"""The error every invalid event raises: which fields are wrong and why.

Why it exists: ingest endpoints answer 422 with these field errors and workers put the same reason
on the dead-letter topic, so both speak one format.
"""

from __future__ import annotations

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


def _message(err: ErrorDetails) -> str:
    # Our own validators' messages are whole sentences: drop pydantic's "Value error, " prefix.
    if err["type"] == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    return err["msg"]
