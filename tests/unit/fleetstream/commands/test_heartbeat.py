"""`heartbeat --task ID:NAME:TYPE`: what is accepted, and the clear refusals."""

from __future__ import annotations

import argparse

import pytest

from fleetstream.cli import build_parser
from fleetstream.commands.heartbeat import check_tasks, task_spec
from schemas.worker import RunningTask


def test_tasks_parse_with_optional_name_and_type() -> None:
    args = build_parser().parse_args([
        "heartbeat", "--worker-id", "gpu-1", "--task", "t-17:resnet train:training",
        "--task", "t-18::", "--task", "t-19:eval:"])
    assert args.tasks == [
        RunningTask(task_id="t-17", name="resnet train", task_type="training"),
        RunningTask(task_id="t-18"),
        RunningTask(task_id="t-19", name="eval"),
    ]
    assert build_parser().parse_args(["heartbeat", "--worker-id", "w"]).tasks == []


@pytest.mark.parametrize(("text", "reason"), [
    ("t-17", "expected ID:NAME:TYPE"),
    ("t-17:train", "expected ID:NAME:TYPE"),
    ("t:1:2:3", "expected ID:NAME:TYPE"),
    (":name:type", "task_id"),
    ("t-1:" + "n" * 257 + ":x", "name"),
    ("t-1:\x1b[31mred:x", "control characters"),
])
def test_malformed_tasks_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=reason):
        task_spec(text)


def test_duplicate_task_ids_are_refused() -> None:
    tasks = [task_spec("t-1:a:x"), task_spec("t-2:b:x"), task_spec("t-1:c:y")]
    assert check_tasks(tasks) == "--task id 't-1' is given twice"
    assert check_tasks(tasks[:2]) is None


def test_a_bad_task_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["heartbeat", "--worker-id", "w", "--task", "only-an-id"])
    assert exited.value.code == 2
    assert "--task: expected ID:NAME:TYPE" in capsys.readouterr().err
