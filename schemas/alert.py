"""Alerts raised by workers: stale/stalled backup jobs, inactive/active workers, silent nodes.

Why it exists: every state transition that an operator must hear about becomes one `Alert` on the
alerts topic. Its `alert_id` is derived from (kind, subject, transition time), so a worker that
re-raises an alert after a crash or a rebalance produces the same id and every consumer (the
PostgreSQL `alerts` projection included) deduplicates it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import EventTime, Identifier, JsonObject

AlertState = Literal["raised", "cleared"]

_ALERT_NAMESPACE = uuid.UUID("6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10")


def alert_id(kind: str, subject: str, state: AlertState, at: datetime) -> str:
    """Deterministic id of a transition: the same transition always gets the same id."""
    return str(uuid.uuid5(_ALERT_NAMESPACE, f"{kind}|{subject}|{state}|{at.isoformat()}"))


class Alert(BaseModel):
    """One transition: `kind` (e.g. `backup.stale`), `subject` (a job, worker or node id), state."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    alert_id: Identifier
    kind: Identifier
    subject: Identifier
    state: AlertState
    at: EventTime
    detail: JsonObject = Field(default_factory=dict)
    """Free-form figures (jsonb): bounded in depth and size, no NUL, integers within 64 bits."""
    clears: str | None = None
    """On a `cleared` alert: the `alert_id` of the raised one it ends (None on older records)."""

    @classmethod
    def transition(
        cls, kind: str, subject: str, state: AlertState, at: datetime,
        clears: str | None = None, **detail: Any
    ) -> Alert:
        return cls(alert_id=alert_id(kind, subject, state, at), kind=kind, subject=subject,
                   state=state, at=at, detail=detail, clears=clears)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()
