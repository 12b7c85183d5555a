"""The worker's live tables, declared once: jobs, nodes, VMs, compute workers, and the jobs'
and nodes' event-time window rollups (`streams.state.WindowedState`).

Why it exists: a table is shared by its pipeline (which writes it), its views (which read it)
and the live feeds (which follow its changelog); declaring them here keeps the views from
importing the agents. Changelog topic names are `<app id>-<name>-changelog`, unchanged since the
first release, so existing deployments recover their state.
"""

from __future__ import annotations

from streams import topics
from streams.domain import rollups
from streams.state import KeyedState, WindowedState

job_rollups = WindowedState("backup_job_rollups", topics.backup, rollups.JOB,
                            help="1-minute panes of each job's reports and bytes (event time).")
node_rollups = WindowedState("node_rollups", topics.node, rollups.NODE,
                             help="1-minute panes of each node's CPU, memory, network rates.")
jobs = KeyedState("backup_jobs", topics.backup,
                  help="Backup job state by job_id: disks, totals, speed, staleness.",
                  windows=job_rollups)
nodes = KeyedState("nodes", topics.node, help="Latest snapshot and network rates of each node",
                   windows=node_rollups)
vms = KeyedState("vms", topics.vm,
                 help="VM state by vm_uuid: last counters, rates and angle_deg per rate.")
workers = KeyedState("workers", topics.heartbeat,
                     help="Worker state by worker_id: last heartbeat, stats, tasks, active flag.")

ALL = {"jobs": jobs, "nodes": nodes, "vms": vms, "workers": workers}
