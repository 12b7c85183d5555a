"""`fleetstream workers` / `status` output, and the clear error when no worker answers."""

from __future__ import annotations

import pytest

from fleetstream.commands.api import ApiError, get_json
from fleetstream.commands.workers import format_status, format_workers
from tests.integration.helpers import free_port

NOW = 1_760_000_000.0


def worker(worker_id: str, active: bool, **extra: object) -> dict[str, object]:
    return {"worker_id": worker_id, "is_active": active, "cpu_usage": 12.345,
            "memory_usage": 50.0, "gpu_usage": None, "running_task_count": 2,
            "last_update": NOW - 3, "last_update_at": "2025-10-09T08:53:17Z",
            "inactive_since": None if active else "2025-10-09T08:53:47Z",
            "interval_seconds": 5.0, "running_tasks": [], **extra}


def test_workers_table_lists_each_worker_with_its_state() -> None:
    text = format_workers({"b": worker("b", False), "a": worker("a", True)}, NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["WORKER", "STATUS", "CPU%", "MEM%", "GPU%", "TASKS", "LAST",
                                "HEARTBEAT"]
    assert lines[1].split()[:5] == ["a", "active", "12.3", "50.0", "-"]
    assert lines[2].split()[1] == "INACTIVE" and "3s ago" in lines[2]
    assert lines[-1] == "2 workers, 1 active"
    assert format_workers({}, NOW) == "no workers have sent a heartbeat yet"


def test_status_shows_running_tasks() -> None:
    tasks = [{"task_id": "t1", "name": "train", "task_type": None, "started_at": None,
              "progress_percent": 40.0}]
    text = format_status(worker("a", False, running_tasks=tasks), NOW)
    assert "INACTIVE since 2025-10-09T08:53:47Z" in text
    assert "running tasks   1" in text and "t1" in text and "40.0" in text


def test_an_unreachable_worker_is_a_clear_error() -> None:
    with pytest.raises(ApiError, match="cannot reach the fleetstream worker"):
        get_json("/workers", base_url=f"http://127.0.0.1:{free_port()}")
