"""The `vm`, `vm_nic` and `vm_disk` points of one VM state: identity as tags, figures as fields."""

from __future__ import annotations

from typing import Any

from schemas.vm import MEMORY_FIELDS
from streams.projections.vm import lines, points
from streams.sinks.message import Message

TS = 1_760_106_942.5  # 2025-10-10T14:35:42.5Z
NS = "1760106942500000000"
TAGS = "host=h1,vm_name=web\\ 1,vm_uuid=u-1"  # sorted by key; the space escaped


def state(groups: dict[str, Any], vm_state: str = "paused") -> dict[str, Any]:
    memory = dict.fromkeys(MEMORY_FIELDS) | {"memory_actual_bytes": 2048}
    return {"ts": TS, "vm": {"host": "h1", "vm_uuid": "u-1", "vm_name": "web 1",
                             "state": vm_state, "vcpus": 2, **memory},
            "groups": groups}


def group(counters: dict[str, Any], rates: dict[str, Any],
          angles: dict[str, Any]) -> dict[str, Any]:
    return {"counters": counters, "rates": rates, "angles": angles}


def test_the_vm_point_has_the_state_code_memory_and_the_vm_groups_figures() -> None:
    vm = group({"cpu_time": 5}, {"cpu_percent": 12.5}, {"cpu_angle": 45.0})
    # "paused" is code 3 in libvirt's order (nostate, running, blocked, paused, ...).
    assert lines(state({"vm": vm})) == [
        f"vm,{TAGS} cpu_angle=45.0,cpu_percent=12.5,cpu_time=5i,memory_actual_bytes=2048i,"
        f"state_code=3i,vcpus=2i {NS}"]


def test_each_nic_and_disk_is_a_point_of_its_own_tagged_with_its_name() -> None:
    empty = group({}, {}, {})
    nic = group({"rx_bytes": 10}, {"rx_bytes_per_second": 1.5}, {})
    disk = group({"rd_bytes": 20}, {}, {"rd_angle": -30.0})
    result = lines(state({"vm": empty, "nic:eth0": nic, "disk:vda": disk,
                          "other:x": nic}, vm_state="running"))
    assert result == [
        f"vm,{TAGS} memory_actual_bytes=2048i,state_code=1i,vcpus=2i {NS}",
        f"vm_nic,{TAGS.replace('vm_name', 'nic=eth0,vm_name')} rx_bytes=10i,"
        f"rx_bytes_per_second=1.5 {NS}",
        f"vm_disk,disk=vda,{TAGS} rd_angle=-30.0,rd_bytes=20i {NS}"]


def test_a_group_without_figures_yet_gives_no_point() -> None:
    assert lines(state({"vm": group({}, {}, {}), "nic:eth0": group({}, {}, {})}))[1] is None


def test_the_points_of_a_vms_samples_travel_in_one_record() -> None:
    first = state({"vm": group({"cpu_time": 5}, {}, {})})
    second = {**first, "ts": TS + 1}
    assert points("u-1", [first, second]) == Message(b"u-1", (
        f"vm,{TAGS} cpu_time=5i,memory_actual_bytes=2048i,state_code=3i,vcpus=2i {NS}\n"
        f"vm,{TAGS} cpu_time=5i,memory_actual_bytes=2048i,state_code=3i,vcpus=2i "
        "1760106943500000000").encode())
    assert points("u-1", []) is None
