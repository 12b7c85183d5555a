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
const VMS_MS = 1000 * (Number(params.get("vms")) || 5);
const DETAIL_MS = 1000 * (Number(params.get("poll")) || 2);
const SERIES_POINTS = 120;        // speed/ETA samples kept for the open job
const LIVE_ALERT_MS = 30000;      // a live alert counts until the database has caught up with it

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
        el("a", { class: "name", href: `#job=${encodeURIComponent(job.job_id)}` }, job.job_id),
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
    el("div", { class: "title" }, el("a", { href: `#node=${encodeURIComponent(nodeId)}` }, nodeId),
       el("span", { class: "muted when" })),
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

// ---- open alerts ---------------------------------------------------------------------------

// The list is PostgreSQL's (/alerts?status=open). An alert seen on the live feed counts at once,
// until a fetch shows the database caught up with it (the alerts pipeline writes it a moment
// after it is on the topic) or LIVE_ALERT_MS passed.
let recordedAlerts = [];
const liveRaised = new Map();    // alert_id -> {alert, seen}
const liveCleared = new Map();   // alert_id or "kind|subject" -> seen
let alertsRefetch = null;
const alertRows = new Map();     // alert_id -> its table row

function alertLink(alert) {
  if (alert.kind.startsWith("backup.")) return `#job=${encodeURIComponent(alert.subject)}`;
  if (alert.kind.startsWith("node.")) return `#node=${encodeURIComponent(alert.subject)}`;
  return null;
}

function detailText(detail) {
  return Object.entries(detail || {})
    .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");
}

function isCleared(alert) {
  return liveCleared.has(alert.alert_id) || liveCleared.has(`${alert.kind}|${alert.subject}`);
}

function renderAlerts() {
  const now = Date.now();
  for (const [key, seen] of liveCleared) if (now - seen > LIVE_ALERT_MS) liveCleared.delete(key);
  for (const [key, live] of liveRaised) if (now - live.seen > LIVE_ALERT_MS) liveRaised.delete(key);
  const shown = new Map();
  for (const alert of recordedAlerts) if (!isCleared(alert)) shown.set(alert.alert_id, alert);
  for (const { alert } of liveRaised.values()) if (!isCleared(alert)) shown.set(alert.alert_id, alert);
  const list = [...shown.values()].sort((a, b) => b.raised_at.localeCompare(a.raised_at));
  // Rows are kept while their alert is shown (only "… ago" changes), so a link being clicked is
  // never swapped out from under the pointer by the once-a-second redraw.
  const rows = list.map((alert) => {
    let row = alertRows.get(alert.alert_id);
    if (!row) {
      const link = alertLink(alert);
      row = el("tr", { "data-alert": alert.alert_id, "data-kind": alert.kind },
        el("td", {}, el("span", { class: `badge ${alert.kind.split(".").pop()}` }, alert.kind)),
        el("td", {}, link ? el("a", { href: link }, alert.subject) : alert.subject),
        el("td", { class: "raised", title: alert.raised_at }),
        el("td", { class: "detail-text" }, detailText(alert.detail)));
      alertRows.set(alert.alert_id, row);
    }
    row.querySelector(".raised").textContent = ago(alert.raised_at);
    return row;
  });
  for (const id of [...alertRows.keys()]) if (!shown.has(id)) alertRows.delete(id);
  const body = $("alerts").tBodies[0];
  if (rows.length !== body.rows.length || rows.some((row, i) => body.rows[i] !== row)) {
    body.replaceChildren(...rows);
  }
  $("alerts-summary").textContent = list.length ? `${list.length} open` : "";
  showEmpty("alerts-empty", list.length === 0);
  $("alerts").hidden = list.length === 0;
}

function noteLiveAlert(m) {
  const now = Date.now();
  if (m.state === "raised") {
    liveRaised.set(m.alert_id, { seen: now, alert: {
      alert_id: m.alert_id, kind: m.kind, subject: m.subject, raised_at: m.at, detail: m.detail } });
  } else {
    liveCleared.set(m.clears || `${m.kind}|${m.subject}`, now);
    if (m.clears) liveRaised.delete(m.clears);
  }
  renderAlerts();
  // One re-read for a burst of alerts; by then the database has them, most of the time.
  if (!alertsRefetch) {
    alertsRefetch = setTimeout(() => { alertsRefetch = null; fetchAlerts(); }, 1500);
  }
}

async function fetchAlerts() {
  try {
    const body = await getJson("/alerts?status=open&limit=200");
    recordedAlerts = body.alerts || [];
    const recorded = new Set(recordedAlerts.map((a) => a.alert_id));
    for (const key of [...liveRaised.keys()]) if (recorded.has(key)) liveRaised.delete(key);
    renderAlerts();
  } catch (error) {
    $("alerts-summary").textContent = `alerts unavailable: ${error.message}`;
  }
}

// ---- virtual machines ----------------------------------------------------------------------

// A VM's total over its NICs or disks; null when none of them has the rate yet.
function total(parts, field) {
  const values = Object.values(parts || {}).map((p) => p[field]).filter((v) => typeof v === "number");
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

function rate(n) { return n === null || n === undefined ? "–" : `${bytes(n)}/s`; }

function iops(n) { return n === null || n === undefined ? "–" : n.toFixed(1); }

function renderVms(payload) {
  const list = Object.values(payload.vms || {}).sort(
    (a, b) => a.vm_name.localeCompare(b.vm_name) || a.vm_uuid.localeCompare(b.vm_uuid));
  const rows = list.map((vm) => {
    const devices = [...Object.keys(vm.nics || {}), ...Object.keys(vm.disks || {})].join(" · ");
    const breakdown = [
      ...Object.entries(vm.nics || {}).map(([name, n]) =>
        `${name}: ↓ ${rate(n.rx_bytes_per_second)} ↑ ${rate(n.tx_bytes_per_second)}`),
      ...Object.entries(vm.disks || {}).map(([name, d]) =>
        `${name}: read ${rate(d.rd_bytes_per_second)} write ${rate(d.wr_bytes_per_second)}`),
    ].join("\n");
    return el("tr", { "data-vm": vm.vm_uuid, title: breakdown },
      el("td", {}, el("div", { class: "name" }, vm.vm_name),
         el("div", { class: "sub" }, devices || vm.vm_uuid)),
      el("td", {}, vm.host),
      el("td", {}, el("span", { class: `badge ${vm.state === "running" ? "active" : "inactive"}` },
                      vm.state)),
      el("td", { class: "num cpu" }, pct(vm.cpu_percent)),
      el("td", { class: "num" }, bytes(vm.memory_actual_bytes)),
      el("td", { class: "num rx" }, rate(total(vm.nics, "rx_bytes_per_second"))),
      el("td", { class: "num tx" }, rate(total(vm.nics, "tx_bytes_per_second"))),
      el("td", { class: "num rd" }, rate(total(vm.disks, "rd_bytes_per_second"))),
      el("td", { class: "num wr" }, rate(total(vm.disks, "wr_bytes_per_second"))),
      el("td", { class: "num" },
         `${iops(total(vm.disks, "rd_iops"))} / ${iops(total(vm.disks, "wr_iops"))}`),
      el("td", {}, ago(new Date(vm.ts * 1000).toISOString())));
  });
  $("vms").tBodies[0].replaceChildren(...rows);
  const running = list.filter((vm) => vm.state === "running").length;
  $("vms-summary").textContent = list.length ? `${running} of ${list.length} running` : "";
  showEmpty("vms-empty", list.length === 0);
  $("vms").hidden = list.length === 0;
}

async function fetchVms() {
  try {
    renderVms(await getJson("/vms"));
  } catch (error) {
    $("vms-summary").textContent = `VMs unavailable: ${error.message}`;
  }
}

// ---- charts over time (SVG) ----------------------------------------------------------------

const CHART_W = 300, CHART_H = 80;

// A line over [{t, v}] (t: epoch ms) scaled to the box, with a dot per sample.
function lineChart(series, cls) {
  const chart = svg("svg", { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: `chart ${cls}`,
                             "data-points": String(series.length) });
  if (!series.length) return chart;
  const t0 = series[0].t, t1 = series[series.length - 1].t;
  const top = Math.max(...series.map((p) => p.v)) || 1;
  const x = (t) => (t1 === t0 ? CHART_W / 2 : ((t - t0) / (t1 - t0)) * (CHART_W - 8) + 4);
  const y = (v) => CHART_H - 4 - (v / top) * (CHART_H - 8);
  chart.append(svg("polyline", { points: series.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ") }));
  for (const p of series) chart.append(svg("circle", { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: "2" }));
  return chart;
}

// Event-time windows: the 1-minute tumbling ones as bars, the 5-minute hopping ones as a line
// through their ends; `value(window)` gives the figure drawn, `label` how it reads.
function windowsChart(windows, value, label) {
  const tumbling = windows.tumbling_1m || [], hopping = windows.hopping_5m || [];
  const all = [...tumbling, ...hopping];
  const chart = svg("svg", { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: "chart windows",
                             "data-windows": String(all.length) });
  const t0 = Math.min(...all.map((w) => Date.parse(w.start)));
  const t1 = Math.max(...all.map((w) => Date.parse(w.end)));
  const top = Math.max(...all.map((w) => value(w) ?? 0)) || 1;
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * CHART_W;
  const y = (v) => CHART_H - 2 - ((v ?? 0) / top) * (CHART_H - 6);
  for (const w of tumbling) {
    const left = x(Date.parse(w.start)), right = x(Date.parse(w.end));
    const bar = svg("rect", { class: "tumbling", x: (left + 0.5).toFixed(1), y: y(value(w)).toFixed(1),
                              width: Math.max(1, right - left - 1).toFixed(1),
                              height: (CHART_H - 2 - y(value(w))).toFixed(1) });
    const title = svg("title", {});
    title.textContent = `${w.start} – ${w.end}: ${label(value(w))}`;
    bar.append(title);
    chart.append(bar);
  }
  if (hopping.length) {
    chart.append(svg("polyline", { class: "hopping", points: hopping.map(
      (w) => `${x(Date.parse(w.end)).toFixed(1)},${y(value(w)).toFixed(1)}`).join(" ") }));
  }
  return chart;
}

// The rollups figure of a detail panel: the chart, or "no rollups yet" while the view has none
// (404: nothing folded for the key yet, or a worker without the rollup views).
function showRollups(figure, body, value, label, latest) {
  const windows = body?.windows || {};
  const count = (windows.tumbling_1m || []).length + (windows.hopping_5m || []).length;
  const caption = figure.querySelector("figcaption");
  if (!count) {
    figure.replaceChildren(caption, el("p", { class: "empty" }, "no rollups yet"));
    return;
  }
  const last = (windows.tumbling_1m || []).at(-1) || (windows.hopping_5m || []).at(-1);
  figure.replaceChildren(caption, windowsChart(windows, value, label),
    el("div", { class: "legend" }, el("i", { class: "tumbling" }), "1-minute windows",
       el("i", { class: "hopping" }), "5-minute windows (hopping)",
       ` · latest: ${latest(last)}`,
       body.late_dropped ? ` · ${body.late_dropped} late events dropped` : ""));
}

async function getRollups(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---- job and node detail (#job=<id>, #node=<id>) -------------------------------------------

let detail = null;   // {kind, id, series: [{t, speed, eta}], timer}

function showJob(job) {
  const panel = $("job-detail");
  panel.querySelector(".detail-sub").textContent =
    `${job.job_type} · ${job.current_phase} · ${jobState(job)} · ` +
    `${(job.progress_percent ?? 0).toFixed(1)}% of ${bytes(job.total_bytes)}`;
  const rows = (job.disks || []).map((disk) => {
    const percent = disk.progress_percent;
    return el("tr", { "data-disk": String(disk.disk_index) },
      el("td", {}, `disk ${disk.disk_index}`),
      el("td", {}, disk.status),
      el("td", { class: "progress" },
         el("div", { class: "bar", role: "progressbar",
                     "aria-valuenow": percent === null ? "" : percent.toFixed(1),
                     "aria-valuemin": "0", "aria-valuemax": "100" },
            el("div", { style: `width: ${Math.min(100, Math.max(0, percent ?? 0))}%` })),
         el("span", { class: "pct" }, percent === null ? "–" : `${percent.toFixed(1)}%`)),
      el("td", { class: "num" }, `${bytes(disk.bytes_transferred)} / ${bytes(disk.total_bytes)}`));
  });
  panel.querySelector(".disks tbody").replaceChildren(...rows);
  // One sample per report: repeated polls of an unchanged job add nothing.
  const at = Date.parse(job.last_telemetry_at);
  const series = detail.series;
  if (at && (!series.length || at > series[series.length - 1].t)) {
    series.push({ t: at, speed: job.transfer_speed_bps ?? 0, eta: job.eta_seconds });
    if (series.length > SERIES_POINTS) series.shift();
  }
  const speed = panel.querySelector(".series.speed"), eta = panel.querySelector(".series.eta");
  speed.querySelector("b").textContent = rate(job.transfer_speed_bps);
  eta.querySelector("b").textContent = duration(job.eta_seconds);
  speed.replaceChildren(speed.firstElementChild,
    lineChart(series.map((p) => ({ t: p.t, v: p.speed })), "speed"));
  eta.replaceChildren(eta.firstElementChild,
    lineChart(series.filter((p) => p.eta !== null && p.eta !== undefined)
                    .map((p) => ({ t: p.t, v: p.eta })), "eta"));
  const span = series.length > 1 ? ` over ${duration((series.at(-1).t - series[0].t) / 1000)}` : "";
  for (const figure of [speed, eta]) {
    figure.append(el("div", { class: "legend" },
                     `${series.length} report${series.length === 1 ? "" : "s"}${span}, since opened`));
  }
}

async function pollJob(id) {
  const path = `/jobs/${encodeURIComponent(id)}`;
  await fetchJob(id);
  try {
    const body = await getRollups(`${path}/rollups`);
    if (detail?.id !== id) return;
    showRollups($("job-detail").querySelector(".rollups"), body, (w) => w.bytes_per_second,
                rate, (w) => `${rate(w.bytes_per_second)}, ${w.reports} reports`);
  } catch (error) {
    console.warn(`job ${id} rollups: ${error.message}`);
  }
}

async function pollNode(id) {
  const path = `/nodes/${encodeURIComponent(id)}`;
  try {
    const node = await getJson(path);
    if (detail?.id !== id) return;
    $("node-detail").querySelector(".detail-sub").textContent =
      `CPU ${pct(node.cpu_percent)} · memory ${pct(node.memory_percent)}`;
  } catch (error) {
    $("node-detail").querySelector(".detail-sub").textContent = error.message;
  }
  try {
    const body = await getRollups(`${path}/rollups`);
    if (detail?.id !== id) return;
    const panel = $("node-detail");
    for (const [cls, field] of [["cpu", "cpu_percent"], ["mem", "memory_percent"]]) {
      showRollups(panel.querySelector(`.rollups.${cls}`), body, (w) => w[field]?.avg, pct,
                  (w) => `avg ${pct(w[field]?.avg)}, max ${pct(w[field]?.max)}`);
    }
  } catch (error) {
    console.warn(`node ${id} rollups: ${error.message}`);
  }
}

// The hash names what is open; an id that is not valid percent-encoding opens nothing.
function parseHash() {
  const match = /^#(job|node)=(.+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return { kind: match[1], id: decodeURIComponent(match[2]) };
  } catch {
    return null;
  }
}

function openDetail() {
  if (detail) clearInterval(detail.timer);
  detail = null;
  $("job-detail").hidden = true;
  $("node-detail").hidden = true;
  const wanted = parseHash();
  if (!wanted) return;
  const panel = $(`${wanted.kind}-detail`);
  panel.hidden = false;
  panel.dataset.id = wanted.id;
  panel.querySelector(".detail-id").textContent = wanted.id;
  panel.querySelector(".detail-sub").textContent = "";
  for (const rollups of panel.querySelectorAll(".rollups")) {
    rollups.replaceChildren(rollups.querySelector("figcaption"),
                            el("p", { class: "empty" }, "no rollups yet"));
  }
  if (wanted.kind === "job") {
    panel.querySelector(".disks tbody").replaceChildren();
    for (const figure of panel.querySelectorAll(".series")) {
      figure.replaceChildren(figure.firstElementChild);
      figure.querySelector("b").textContent = "";
    }
  }
  const poll = wanted.kind === "job" ? pollJob : pollNode;
  detail = { ...wanted, series: [], timer: setInterval(() => poll(wanted.id), DETAIL_MS) };
  poll(wanted.id);
}

// ---- live updates (/ws/fleet) --------------------------------------------------------------

// The owner's view of one job; a notice may precede nothing we can show yet (404): skip it.
async function fetchJob(jobId) {
  try {
    const job = await getJson(`/jobs/${encodeURIComponent(jobId)}`);
    jobs.set(jobId, job);
    renderJobs();
    if (detail?.kind === "job" && detail.id === jobId) showJob(job);
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
  noteLiveAlert(m);
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
  fetchAlerts();
  fetchVms();
  const failed = results.filter((r) => r.status === "rejected");
  $("updated").textContent = failed.length
    ? `refresh failed: ${failed[0].reason.message}`
    : `loaded ${new Date().toLocaleTimeString()}`;
}

connect("/ws/fleet", (m) => FLEET_HANDLERS[m.type]?.(m));
connect("/ws/telemetry", applyTelemetry);
window.addEventListener("hashchange", openDetail);
refresh();
openDetail();
setInterval(refresh, REFRESH_MS);
setInterval(fetchVms, VMS_MS);
setInterval(() => { renderWorkers(); renderAlerts(); }, AGES_MS);
