// fleetstream dashboard: loads /workers, /jobs and /nodes once, then stays current over two
// WebSockets: /ws/fleet (heartbeats, job change notices, alerts) and /ws/telemetry (node charts).
// A slow safety refresh (?refresh=<seconds>, default 15) only repairs what a reconnect missed.
// Every value from the API is put into the page with textContent (never as HTML).
"use strict";

const params = new URLSearchParams(location.search);
const REFRESH_MS = 1000 * (Number(params.get("refresh")) || 15);
const CHART_POINTS = 60;          // samples kept per node chart
const WS_RETRY_MIN_MS = 500;
const WS_RETRY_MAX_MS = 15000;
const AGES_MS = 1000;             // how often "… ago" texts are redrawn (no fetch)

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function pct(value) { return value === null || value === undefined ? "–" : `${value.toFixed(1)}%`; }

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

function ago(iso) {
  const then = Date.parse(iso);
  if (!then) return "–";
  const seconds = (Date.now() - then) / 1000;
  return seconds < 2 ? "just now" : `${duration(seconds)} ago`;
}

function showEmpty(id, isEmpty) { $(id).hidden = !isEmpty; }

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---- workers -------------------------------------------------------------------------------

const workers = new Map();   // worker_id -> the /workers entry, kept current by the fleet feed

function renderWorkers() {
  const list = [...workers.values()].sort((a, b) => a.worker_id.localeCompare(b.worker_id));
  const rows = list.map((w) => {
    const state = w.is_active ? "active" : "inactive";
    return el("tr", { class: state, "data-worker": w.worker_id },
      el("td", {}, w.worker_id),
      el("td", {}, el("span", { class: `badge ${state}` }, state)),
      el("td", { class: "num" }, pct(w.cpu_usage)),
      el("td", { class: "num" }, pct(w.memory_usage)),
      el("td", { class: "num" }, pct(w.gpu_usage)),
      el("td", { class: "num" }, w.running_task_count),
      el("td", {}, ago(w.last_update_at)));
  });
  $("workers").tBodies[0].replaceChildren(...rows);
  const active = list.filter((w) => w.is_active).length;
  $("workers-summary").textContent = list.length ? `${active} of ${list.length} active` : "";
  showEmpty("workers-empty", list.length === 0);
}

// ---- backup jobs ---------------------------------------------------------------------------

function jobState(job) {
  if (job.stale_level === "stalled" || job.stale_level === "stale") return job.stale_level;
  return job.status;
}

const jobs = new Map();      // job_id -> the /jobs/{job_id} summary

function renderJobs() {
  const list = [...jobs.values()].sort(
    (a, b) => (b.last_telemetry_at || "").localeCompare(a.last_telemetry_at || ""));
  const rows = list.map((job) => {
    const state = jobState(job);
    const percent = job.progress_percent ?? 0;
    const bar = el("div", { class: "bar", role: "progressbar", "aria-valuenow": percent.toFixed(1),
                            "aria-valuemin": "0", "aria-valuemax": "100" },
                   el("div", { style: `width: ${Math.min(100, Math.max(0, percent))}%` }));
    const speed = job.transfer_speed_bps ? `${bytes(job.transfer_speed_bps)}/s` : "–";
    return el("div", { class: `job ${state}`, "data-job": job.job_id },
      el("div", {},
        el("div", { class: "name" }, job.job_id),
        el("div", { class: "sub" }, `${job.job_type} · ${job.current_phase} `,
           el("span", { class: `badge ${state}` }, state))),
      bar,
      el("div", { class: "stats" },
        `${percent.toFixed(1)}% · ${bytes(job.bytes_transferred)} / ${bytes(job.total_bytes)}`,
        el("br"), `${speed} · ETA ${duration(job.eta_seconds)}`));
  });
  $("jobs").replaceChildren(...rows);
  const running = list.filter((j) => j.status === "running").length;
  const stale = list.filter((j) => j.stale).length;
  $("jobs-summary").textContent = list.length
    ? `${running} running${stale ? `, ${stale} stale/stalled` : ""}` : "";
  showEmpty("jobs-empty", list.length === 0);
}

// ---- nodes (live charts) -------------------------------------------------------------------

const nodes = new Map();   // node_id -> {cpu: [], mem: [], last, card}
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function nodeCard(nodeId) {
  const chart = svg("svg", { viewBox: `0 0 ${CHART_POINTS - 1} 100`, preserveAspectRatio: "none" });
  chart.append(svg("polyline", { class: "cpu", "vector-effect": "non-scaling-stroke" }),
               svg("polyline", { class: "mem", "vector-effect": "non-scaling-stroke" }));
  const card = el("div", { class: "node", "data-node": nodeId },
    el("div", { class: "title" }, el("span", {}, nodeId), el("span", { class: "muted when" })),
    el("div", { class: "values" }), chart,
    el("div", { class: "legend" }, el("i", { style: "background: var(--accent)" }), "CPU",
       el("i", { style: "background: var(--mem)" }), "memory"));
  $("nodes").append(card);
  return card;
}

// Until the window is full the samples are spread over the whole width, so a new node's chart
// is readable from its second sample on.
function points(series) {
  const step = (CHART_POINTS - 1) / Math.max(1, series.length - 1);
  return series.map((v, i) => `${(i * step).toFixed(2)},${(100 - v).toFixed(1)}`).join(" ");
}

function addNodeSample(nodeId, at, cpu, mem, rxRate, txRate) {
  let node = nodes.get(nodeId);
  if (!node) {
    node = { cpu: [], mem: [], card: nodeCard(nodeId) };
    nodes.set(nodeId, node);
  }
  if (node.last && Date.parse(at) <= Date.parse(node.last)) return;
  node.last = at;
  for (const [series, value] of [[node.cpu, cpu], [node.mem, mem]]) {
    series.push(Math.min(100, Math.max(0, value ?? 0)));
    if (series.length > CHART_POINTS) series.shift();
  }
  const [cpuLine, memLine] = node.card.querySelectorAll("polyline");
  cpuLine.setAttribute("points", points(node.cpu));
  memLine.setAttribute("points", points(node.mem));
  const values = node.card.querySelector(".values");
  values.replaceChildren("CPU ", el("b", {}, pct(cpu)), " · memory ", el("b", {}, pct(mem)),
    rxRate === undefined ? "" : ` · ↓ ${(rxRate ?? 0).toFixed(2)} ↑ ${(txRate ?? 0).toFixed(2)} MB/s`);
  node.card.querySelector(".when").textContent = new Date(at).toLocaleTimeString();
  $("nodes-summary").textContent = `${nodes.size} reporting`;
  showEmpty("nodes-empty", false);
}

// The live feed only carries snapshots from the moment it connected; the loaded list fills in
// nodes (and samples) it did not see, and repeats of a sample already charted are ignored.
function renderNodes(payload) {
  for (const n of payload.nodes || []) {
    addNodeSample(n.node_id, n.ts, n.cpu_percent, n.memory_percent);
  }
}

// ---- live updates (/ws/fleet) --------------------------------------------------------------

// The owner's view of one job; a notice may precede nothing we can show yet (404): skip it.
async function fetchJob(jobId) {
  try {
    jobs.set(jobId, await getJson(`/jobs/${encodeURIComponent(jobId)}`));
    renderJobs();
  } catch (error) {
    console.warn(`job ${jobId}: ${error.message}`);
  }
}

async function fetchWorker(workerId) {
  try {
    const full = await getJson(`/telemetry/${encodeURIComponent(workerId)}`);
    const { running_tasks: tasks, ...basic } = full;
    workers.set(workerId, { ...basic, running_task_count: tasks.length });
    renderWorkers();
  } catch (error) {
    console.warn(`worker ${workerId}: ${error.message}`);
  }
}

// A heartbeat older than the one shown changes nothing; one too old to count (`fresh` false,
// the stream's own inactivity threshold) updates the stats but does not make the worker active.
function applyHeartbeat(m) {
  const known = workers.get(m.worker_id);
  if (known && Date.parse(known.last_update_at) > Date.parse(m.ts)) return;
  workers.set(m.worker_id, {
    ...known, worker_id: m.worker_id, cpu_usage: m.cpu_usage, memory_usage: m.memory_usage,
    gpu_usage: m.gpu_usage, running_task_count: m.running_task_count, last_update_at: m.ts,
    is_active: m.fresh || Boolean(known?.is_active),
  });
  renderWorkers();
}

const JOB_ALERTS = { "backup.stale": "stale", "backup.stalled": "stalled" };

// Show the alert at once, then ask the owner for the whole truth.
function applyAlert(m) {
  const raised = m.state === "raised";
  if (m.kind === "worker.inactive") {
    const worker = workers.get(m.subject);
    if (worker) { worker.is_active = !raised; renderWorkers(); }
    fetchWorker(m.subject);
  } else if (m.kind in JOB_ALERTS) {
    const job = jobs.get(m.subject);
    const level = JOB_ALERTS[m.kind];
    if (job && (raised || job.stale_level === level)) {
      job.stale_level = raised ? level : "fresh";
      job.stale = raised;
      renderJobs();
    }
    fetchJob(m.subject);
  }
}

const FLEET_HANDLERS = {
  heartbeat: applyHeartbeat,
  job: (m) => fetchJob(m.job_id),
  alert: applyAlert,
};

function applyTelemetry(m) {
  const metrics = m.metrics || {};
  addNodeSample(m.node_id, m.timestamp, metrics.cpu?.cpu_usage_percent,
                metrics.memory?.memory_usage_percent,
                metrics.network?.bytes_recv_mb_per_sec, metrics.network?.bytes_sent_mb_per_sec);
}

// ---- connection ----------------------------------------------------------------------------

const feeds = new Map();   // path -> open?

function setConnection(state, text) {
  const badge = $("connection");
  badge.dataset.state = state;
  badge.textContent = text;
}

function showConnection() {
  const open = [...feeds.values()];
  if (open.every(Boolean)) setConnection("live", "live");
  else setConnection("down", "reconnecting…");
}

// Keeps one WebSocket open, reconnecting with exponential backoff; after a reconnect a refresh
// fills in whatever happened while it was away.
function connect(path, onMessage) {
  let retryMs = WS_RETRY_MIN_MS;
  let everOpen = false;
  feeds.set(path, false);
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${path}`);
    ws.onopen = () => {
      retryMs = WS_RETRY_MIN_MS;
      feeds.set(path, true);
      showConnection();
      if (everOpen) refresh();
      everOpen = true;
    };
    ws.onmessage = (event) => onMessage(JSON.parse(event.data));
    ws.onclose = () => {
      feeds.set(path, false);
      showConnection();
      setTimeout(open, retryMs);
      retryMs = Math.min(WS_RETRY_MAX_MS, retryMs * 2);
    };
  };
  open();
}

// ---- initial load and safety refresh -------------------------------------------------------

async function refresh() {
  const results = await Promise.allSettled(
    [getJson("/workers"), getJson("/jobs"), getJson("/nodes")]);
  const [workerList, jobList, nodeList] = results;
  if (workerList.status === "fulfilled") {
    workers.clear();
    for (const w of Object.values(workerList.value)) workers.set(w.worker_id, w);
    renderWorkers();
  }
  if (jobList.status === "fulfilled") {
    jobs.clear();
    for (const j of jobList.value.jobs || []) jobs.set(j.job_id, j);
    renderJobs();
  }
  if (nodeList.status === "fulfilled") renderNodes(nodeList.value);
  const failed = results.filter((r) => r.status === "rejected");
  $("updated").textContent = failed.length
    ? `refresh failed: ${failed[0].reason.message}`
    : `loaded ${new Date().toLocaleTimeString()}`;
}

connect("/ws/fleet", (m) => FLEET_HANDLERS[m.type]?.(m));
connect("/ws/telemetry", applyTelemetry);
refresh();
setInterval(refresh, REFRESH_MS);
setInterval(renderWorkers, AGES_MS);
