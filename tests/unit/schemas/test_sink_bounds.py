"""Values no projection can store are rejected at decode, so they become dead letters.

Regression: a NUL in an id, an integer beyond PostgreSQL's int8 or an infinite float used to pass
validation, then crashed the agent (PostgreSQL) or stalled its partition (line protocol).
"""

from __future__ import annotations

import pytest

from schemas.backup import BackupProgress
from schemas.errors import InvalidEvent
from schemas.event import decode

VALID = (b'{"event_id":"6f1c7f34-0a51-4d8e-9c53-2f0e1f7a9b10","schema":"backup.progress/1",'
         b'"source":"s","ts":"2025-01-01T00:00:00Z","job_id":"j","job_type":"backup",'
         b'"status":"running","current_phase":"copy","seq":1,"bytes_transferred":0,'
         b'"total_bytes":10,"disks":[]}')


def test_the_valid_report_decodes() -> None:
    assert decode(BackupProgress, VALID).job_id == "j"


@pytest.mark.parametrize(("replace", "by", "field"), [
    (b'"job_id":"j"', b'"job_id":"j\\u0000x"', "job_id"),
    (b'"seq":1', b'"seq":1180591620717411303424', "seq"),
    (b'"seq":1', b'"seq":1,"transfer_speed_bps":1e400', "transfer_speed_bps"),
])
def test_unstorable_values_are_rejected_naming_the_field(
        replace: bytes, by: bytes, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode(BackupProgress, VALID.replace(replace, by))
    assert [e.field for e in caught.value.errors] == [field]
