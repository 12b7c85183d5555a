"""InfluxDB 1.x (Debian's `influxdb`) in the local stack: the strict line-protocol check.

Why it exists: VictoriaMetrics, the stack's TSDB, accepts nearly any line and any change of a
field's type. Real InfluxDB rejects a malformed line or a field whose type differs from what the
series stored before (an integer `5i`, later a float `5.5`). Tests send the same line-protocol
batches the sinks produce to this server's `/write?db=` and fail on any rejection.
"""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

from fleetstream.stack.process import StackError, http_ok
from fleetstream.stack.services import HOST, Service


class InfluxDB1(Service):
    """One `influxd` on loopback with its database created; no reporting, no UDP/Graphite."""

    name = "influxdb1"
    database = "fleetstream"

    @property
    def home(self) -> Path:
        return self.state_dir / "influxdb1"

    @property
    def marker(self) -> str:
        return str(self.home / "influxdb.conf")

    @property
    def port(self) -> int:
        return self.ports.influxdb1

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def prepare(self) -> None:
        if shutil.which("influxd") is None:
            raise StackError("influxdb is not installed (apt-get install influxdb)")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "influxdb.conf").write_text("\n".join([
            "reporting-disabled = true",
            f'bind-address = "{HOST}:{self.ports.influxdb1_rpc}"',
            "[meta]",
            f'  dir = "{self.home / "meta"}"',
            "[data]",
            f'  dir = "{self.home / "data"}"',
            f'  wal-dir = "{self.home / "wal"}"',
            "  query-log-enabled = false",
            "[http]",
            "  enabled = true",
            f'  bind-address = "{HOST}:{self.port}"',
            "  log-enabled = false",
            "[monitor]",
            "  store-enabled = false",
            "[continuous_queries]",
            "  enabled = false",
            "",
        ]))

    def launch(self) -> None:
        self.process.spawn(["influxd", "-config", self.marker])

    def healthy(self) -> bool:
        if not (super().healthy() and http_ok(f"{self.url}/ping")):
            return False
        # CREATE DATABASE is idempotent; done here so a fresh server is only healthy with it.
        query = urllib.parse.urlencode({"q": f'CREATE DATABASE "{self.database}"'})
        return http_ok(f"{self.url}/query?{query}", method="POST")

    def env(self) -> dict[str, str]:
        return {"INFLUXDB1_URL": self.url, "INFLUXDB1_DB": self.database}
