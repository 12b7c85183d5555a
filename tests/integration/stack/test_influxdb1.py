"""InfluxDB 1.x in the stack: what real InfluxDB accepts passes, what it refuses fails a test."""

from __future__ import annotations

import uuid

import aiohttp
import pytest

from fleetstream.stack import Stack
from tests.integration.influx1 import InfluxRejected, write_lines_strict


async def query(url: str, db: str, q: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{url}/query", params={"db": db, "q": q}) as response:
        assert response.status == 200
        result: dict[str, object] = await response.json()
        return result


async def test_a_good_line_is_stored(own_stack: Stack) -> None:
    env = own_stack.env()
    url, db = env["INFLUXDB1_URL"], env["INFLUXDB1_DB"]
    probe = f"p{uuid.uuid4().hex[:8]}"
    good = f"stacktest,probe={probe} value=42.5,count=3i 1704164645000000000"
    await write_lines_strict(url, db, [good])
    result = await query(url, db, f"SELECT value, count FROM stacktest WHERE probe = '{probe}'")
    assert result["results"] == [{"statement_id": 0, "series": [{
        "name": "stacktest", "columns": ["time", "value", "count"],
        "values": [["2024-01-02T03:04:05Z", 42.5, 3]]}]}]


async def test_an_integer_field_later_written_as_float_is_rejected(own_stack: Stack) -> None:
    env = own_stack.env()
    url, db = env["INFLUXDB1_URL"], env["INFLUXDB1_DB"]
    measurement = f"conflict{uuid.uuid4().hex[:8]}"
    await write_lines_strict(url, db, [f"{measurement},host=a used=5i 1704164645000000000"])
    with pytest.raises(InfluxRejected) as caught:
        await write_lines_strict(url, db, [f"{measurement},host=a used=5.5 1704164646000000000"])
    assert caught.value.status == 400
    assert "field type conflict" in caught.value.body


async def test_a_malformed_line_is_rejected_with_the_parse_error(own_stack: Stack) -> None:
    env = own_stack.env()
    with pytest.raises(InfluxRejected) as caught:
        await write_lines_strict(env["INFLUXDB1_URL"], env["INFLUXDB1_DB"],
                                 ["stacktest,probe=x value=not-a-number"])
    assert caught.value.status == 400
    assert "unable to parse" in caught.value.body
