"""VM rates, CPU percent and angle_deg from consecutive samples (streams.domain.vm)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.vm import VmDisk, VmNic, VmSample
from streams.domain.vm import advance, angle_deg, cpu_percent, summary

T0 = datetime(2025, 10, 10, 12, 0, tzinfo=UTC)
VM = uuid.UUID("6695eb01-f6a4-8304-79aa-97f2502e193f")
counters = st.integers(min_value=0, max_value=2**63 - 1)


def sample(at: float, cpu: int | None = 0, rx: int = 0, rd_reqs: int = 0,
           vcpus: int = 2) -> VmSample:
    return VmSample(
        event_id=uuid.uuid4(), source="test", ts=T0 + timedelta(seconds=at), host="h",
        vm_uuid=VM, vm_name="web", state="running", cpu_time_ns=cpu, vcpus=vcpus,
        nics=[VmNic(name="vnet0", rx_bytes=rx, rx_packets=0, rx_errs=0, rx_drop=0,
                    tx_bytes=0, tx_packets=0, tx_errs=0, tx_drop=0)],
        disks=[VmDisk(name="vda", rd_reqs=rd_reqs, rd_bytes=0, wr_reqs=0, wr_bytes=0)],
    )


def run(*samples: VmSample) -> dict[str, Any]:
    state: dict[str, Any] | None = None
    for item in samples:
        state = advance(state, item) or state
    assert state is not None
    return summary(state)


def test_rates_are_counter_deltas_per_second() -> None:
    vm = run(sample(0, cpu=0, rx=1000, rd_reqs=10), sample(2, cpu=2 * 10**9, rx=5000, rd_reqs=30))
    assert vm["cpu_time_ns_per_second"] == 10**9
    assert vm["cpu_percent"] == 50.0  # one of two vCPUs busy
    assert vm["nics"]["vnet0"]["rx_bytes_per_second"] == 2000
    assert vm["disks"]["vda"]["rd_iops"] == 10


def test_first_sample_has_counters_but_no_rates() -> None:
    vm = run(sample(0, cpu=5, rx=7))
    assert vm["cpu_time_ns"] == 5 and vm["cpu_percent"] is None
    assert vm["nics"]["vnet0"]["rx_bytes_per_second"] is None
    assert vm["cpu_percent_angle_deg"] is None


def test_vm_reboot_gives_no_rate_then_rates_resume() -> None:
    before = sample(0, cpu=10**12, rx=10**9)
    rebooted = sample(1, cpu=10**6, rx=100)
    vm = run(before, rebooted)
    assert vm["cpu_percent"] is None and vm["nics"]["vnet0"]["rx_bytes_per_second"] is None
    vm = run(before, rebooted, sample(2, cpu=10**6 + 10**9, rx=300))
    assert vm["cpu_percent"] == 50.0
    assert vm["nics"]["vnet0"]["rx_bytes_per_second"] == 200


def test_duplicate_and_out_of_order_samples_change_nothing() -> None:
    first, second = sample(0, cpu=0), sample(1, cpu=10**9)
    state = advance(None, first)
    state = advance(state, second)
    assert advance(state, second) is None
    assert advance(state, sample(0.5, cpu=5 * 10**8)) is None


def test_shut_off_vm_without_cpu_time_has_no_cpu_rate() -> None:
    vm = run(sample(0, cpu=10**9), sample(1, cpu=None))
    assert vm["cpu_time_ns"] is None and vm["cpu_percent"] is None


def test_angle_of_a_rising_rate_is_positive_and_of_a_steady_rate_zero() -> None:
    steady = run(sample(0, rx=0), sample(1, rx=100), sample(2, rx=200))
    assert steady["nics"]["vnet0"]["rx_bytes_per_second_angle_deg"] == 0.0
    rising = run(sample(0, rx=0), sample(1, rx=0), sample(2, rx=1))
    assert rising["nics"]["vnet0"]["rx_bytes_per_second_angle_deg"] == 45.0  # +1 B/s over 1 s


@given(st.lists(st.tuples(st.floats(min_value=0.001, max_value=3600), counters, counters),
                min_size=2, max_size=20))
def test_no_rate_is_ever_negative_whatever_the_counters_do(
        steps: list[tuple[float, int, int]]) -> None:
    state: dict[str, Any] | None = None
    at = 0.0
    for gap, cpu, rx in steps:
        at += gap
        state = advance(state, sample(at, cpu=cpu, rx=rx)) or state
        assert state is not None
        for group in state["groups"].values():
            assert all(rate is None or rate >= 0 for rate in group["rates"].values())


def test_angles_divide_by_the_real_poll_interval() -> None:
    """4 s between samples: the rate rises by 4 B/s over 4 s, which is 45 degrees, then falls back
    (-45). A fold assuming 1 s would give atan(4) = 76 degrees."""
    vm = run(sample(0, rx=0), sample(4, rx=0), sample(8, rx=16))
    assert vm["nics"]["vnet0"]["rx_bytes_per_second"] == 4.0
    assert vm["nics"]["vnet0"]["rx_bytes_per_second_angle_deg"] == pytest.approx(45.0)
    vm = run(sample(0, rx=0), sample(4, rx=0), sample(8, rx=16), sample(12, rx=16))
    assert vm["nics"]["vnet0"]["rx_bytes_per_second_angle_deg"] == pytest.approx(-45.0)
    # Half a second: the CPU goes from idle to one of two vCPUs busy, +50 percent points in 0.5 s.
    vm = run(sample(0, cpu=0), sample(0.5, cpu=0), sample(1.0, cpu=5 * 10**8))
    assert vm["cpu_percent"] == pytest.approx(50.0)
    assert vm["cpu_percent_angle_deg"] == pytest.approx(89.427, abs=1e-3)  # atan(100)


@pytest.mark.parametrize(("now", "prev", "elapsed", "degrees"), [
    (1.0, 0.0, 1.0, 45.0),
    (0.0, 1.0, 1.0, -45.0),
    (7.0, 7.0, 3.0, 0.0),
    (3.0 ** 0.5, 0.0, 1.0, 60.0),  # tan 60 = sqrt 3
    (10.0, 9.0, 3.0 ** 0.5, 30.0),  # tan 30 = 1 / sqrt 3
    (6.0, 2.0, 4.0, 45.0),
])
def test_angle_of_known_slopes(now: float, prev: float, elapsed: float, degrees: float) -> None:
    assert angle_deg(now, prev, elapsed) == pytest.approx(degrees)


@given(st.floats(min_value=0, max_value=1e12), st.floats(min_value=0, max_value=1e12),
       st.floats(min_value=1e-3, max_value=1e6))
def test_angle_is_bounded_signed_and_antisymmetric(now: float, prev: float,
                                                   elapsed: float) -> None:
    angle = angle_deg(now, prev, elapsed)
    assert -90 <= angle <= 90
    if abs(now - prev) > 1e-6:  # below that, atan2 may underflow to 0
        assert (angle > 0) == (now > prev)
    assert angle_deg(prev, now, elapsed) == -angle
    assert abs(angle_deg(now, prev, elapsed * 2)) <= abs(angle), "a slower change is flatter"


@given(st.floats(min_value=0, max_value=1e12), st.integers(min_value=1, max_value=512))
def test_cpu_percent_scales_with_vcpus(ns_per_second: float, vcpus: int) -> None:
    percent = cpu_percent(ns_per_second, vcpus)
    assert percent is not None
    assert math.isclose(percent * vcpus, ns_per_second / 1e7, abs_tol=1e-9)


def test_cpu_percent_unknown_without_vcpus() -> None:
    assert cpu_percent(1e9, 0) is None and cpu_percent(1e9, None) is None


def test_cpu_user_system_and_nic_error_drop_counters_get_rates() -> None:
    def split(at: float, user: int, system: int, errs: int, drops: int) -> VmSample:
        return sample(at).model_copy(update={
            "cpu_user_ns": user, "cpu_system_ns": system,
            "nics": [VmNic(name="vnet0", rx_bytes=0, rx_packets=0, rx_errs=errs, rx_drop=drops,
                           tx_bytes=0, tx_packets=0, tx_errs=2 * errs, tx_drop=0)]})

    vm = run(split(0, 0, 0, 0, 0), split(2, 10**9, 2 * 10**8, 4, 6))
    assert vm["cpu_user_ns_per_second"] == 5 * 10**8
    assert vm["cpu_system_ns_per_second"] == 10**8
    assert vm["cpu_user_percent"] == 25.0 and vm["cpu_system_percent"] == 5.0  # of 2 vCPUs
    nic = vm["nics"]["vnet0"]
    assert nic["rx_errs_per_second"] == 2 and nic["tx_errs_per_second"] == 4
    assert nic["rx_drop_per_second"] == 3 and nic["tx_drop_per_second"] == 0


def test_driver_without_cpu_split_has_no_user_system_rate() -> None:
    vm = run(sample(0, cpu=0), sample(1, cpu=10**9))
    assert vm["cpu_user_ns"] is None and vm["cpu_user_ns_per_second"] is None
    assert vm["cpu_system_percent"] is None and vm["cpu_percent"] == 50.0


def test_the_summary_shows_the_vms_identity_and_its_sample_time() -> None:
    """From `make mutation` (docs/testing.md): `GET /vms` shows which VM, where, and when."""
    last = sample(2, vcpus=4)
    state = advance(advance(None, sample(0, vcpus=4)), last)
    assert state is not None
    assert state["event_id"] == str(last.event_id), "the state names the sample it last applied"
    vm = summary(state)
    assert {key: vm[key] for key in ("host", "vm_uuid", "vm_name", "state", "vcpus", "ts")} == {
        "host": "h", "vm_uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "vm_name": "web",
        "state": "running", "vcpus": 4,
        "ts": 1_760_097_602.0}  # 2025-10-10T12:00:02Z in epoch seconds
