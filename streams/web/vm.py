"""`GET /vms`: every VM's latest figures (identity, memory, rates, angle_deg), from all workers.

Why it exists: the VM table is partitioned by vm_uuid across workers; the list is gathered from
every owner (`streams.web.cluster.gather`), each answering from the partitions it actively owns.
"""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from streams.app import app
from streams.domain.vm import summary
from streams.tables import vms as state
from streams.web.cluster import gather, is_local_request


def _local() -> dict[str, Any]:
    return {vm_uuid: summary(vm_state) for vm_uuid, vm_state in state.owned_items()}


@app.page("/vms")
class Vms(View):
    """Latest rates per VM as `{"count": n, "vms": {vm_uuid: figures}}`."""

    async def get(self, request: Request) -> Response:
        vms = await gather(request, state, _local)
        # Workers asked for their part get the bare mapping `gather` merges.
        return self.json(vms if is_local_request(request) else {"count": len(vms), "vms": vms})
