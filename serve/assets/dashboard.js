// The plugflow dashboard: no framework, no CDN. The API key stays in this
// tab's sessionStorage (or comes once in the URL fragment, never sent to
// the server in a URL).
"use strict";

const state = { key: null, history: { cache: [], errors: [] }, timer: null };

function params() {
  const out = {};
  for (const part of location.hash.replace(/^#/, "").split("&")) {
    if (!part) continue;
    const [k, v = ""] = part.split("=");
    out[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  return out;
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: "Bearer " + state.key } });
  const body = await response.json().catch(() => null);
  return { status: response.status, body };
}

function text(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value === null || value === undefined ? "–" : String(value);
}

function percent(x) {
  return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + " %";
}

function spark(id, values) {
  const svg = document.getElementById(id);
  if (!svg || values.length === 0) return;
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? 100 / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(20 - (v / max) * 18 - 1).toFixed(1)}`).join(" ");
  svg.innerHTML = `<polyline points="${points}"></polyline>`;
}

function remember(list, value) {
  list.push(value ?? 0);
  if (list.length > 60) list.shift();
}

async function showDashboards() {
  const { status, body } = await api("/v1/dashboard");
  const section = document.getElementById("dashboards");
  if (status !== 200) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const r = body.registry, p = body.performance, s = body.security;
  text("node-types", r.nodeTypes);
  text("workflows", r.workflows);
  text("plugins", r.plugins ? JSON.stringify(r.plugins) : "built-ins only");
  text("cache-hit-rate", percent(r.cacheHitRate));
  text("error-rate", percent(r.errorRate));
  remember(state.history.cache, r.cacheHitRate);
  remember(state.history.errors, r.errorRate);
  spark("cache-trend", state.history.cache);
  spark("error-trend", state.history.errors);
  const l = p.latencyMs || {};
  text("latency-p50", l.p50 !== undefined ? l.p50.toFixed(2) : null);
  text("latency-p95", l.p95 !== undefined ? l.p95.toFixed(2) : null);
  text("latency-p99", l.p99 !== undefined ? l.p99.toFixed(2) : null);
  text("executions-started", p.executionsStarted);
  text("executions-finished", p.executionsFinished);
  text("executions-running", p.executionsRunning);
  text("cache-hits", p.cacheHits);
  text("cache-misses", p.cacheMisses);
  text("memory", p.rssBytes ? (p.rssBytes / 1048576).toFixed(1) + " MiB" : null);
  text("tenant-violations", s.tenantViolations);
  text("unauthorized", s.unauthorizedRequests);
  text("audit-volume", s.auditLogBytes === null ? "no audit log configured" : s.auditLogBytes + " bytes");
  const rows = s.nodeTypeAccess.map(a => `<tr><td>${esc(a.tenantId)}</td><td>${esc(a.nodeType)}</td><td>${a.executions}</td></tr>`);
  document.querySelector("#access tbody").innerHTML = rows.join("");
}

function esc(value) {
  return String(value).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function showExecutions() {
  const { status, body } = await api("/v1/executions?limit=25");
  const section = document.getElementById("executions");
  if (status !== 200) {
    text("status", status === 401 ? "That key is not valid." : "Executions unavailable (" + status + ").");
    section.hidden = true;
    return false;
  }
  text("status", "");
  section.hidden = false;
  const rows = body.executions.map(e =>
    `<tr><td><a href="#execution=${encodeURIComponent(e.executionId)}">${esc(e.executionId)}</a></td>` +
    `<td>${esc(e.workflowId)}</td><td class="${esc(e.status)}">${esc(e.status)}</td>` +
    `<td>${new Date(e.startedAtMs).toLocaleTimeString()}</td></tr>`);
  document.querySelector("#executions-table tbody").innerHTML = rows.join("");
  return true;
}

async function showExecution(id) {
  document.getElementById("dashboards").hidden = true;
  document.getElementById("executions").hidden = true;
  const section = document.getElementById("execution");
  const run = await api("/v1/executions/" + encodeURIComponent(id));
  if (run.status !== 200) {
    text("status", "Execution " + id + " not found.");
    section.hidden = true;
    return;
  }
  const workflow = await api("/v1/workflows/" + encodeURIComponent(run.body.workflowId));
  text("status", "");
  section.hidden = false;
  text("execution-id", id);
  text("execution-workflow", run.body.workflowId);
  text("execution-status", run.body.status);
  if (workflow.status === 200) drawGraph(workflow.body, (run.body.result && run.body.result.nodes) || {});
}

function drawGraph(workflow, results) {
  const W = 180, H = 44, GX = 60, GY = 24;
  const byLayer = new Map();
  for (const node of workflow.nodes) {
    if (!byLayer.has(node.layer)) byLayer.set(node.layer, []);
    byLayer.get(node.layer).push(node);
  }
  const place = new Map();
  let rows = 1;
  for (const [layer, nodes] of byLayer) {
    nodes.forEach((node, row) => place.set(node.id, { x: 10 + layer * (W + GX), y: 10 + row * (H + GY) }));
    rows = Math.max(rows, nodes.length);
  }
  const width = 20 + byLayer.size * (W + GX), height = 20 + rows * (H + GY);
  const svg = document.getElementById("graph");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  let out = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z"></path></marker></defs>';
  for (const edge of workflow.edges) {
    const a = place.get(edge.from), b = place.get(edge.to);
    if (!a || !b) continue;
    out += `<path class="edge" d="M${a.x + W},${a.y + H / 2} C${a.x + W + GX / 2},${a.y + H / 2} ${b.x - GX / 2},${b.y + H / 2} ${b.x},${b.y + H / 2}"></path>`;
  }
  for (const node of workflow.nodes) {
    const p = place.get(node.id);
    const status = (results[node.id] && results[node.id].status) || "pending";
    out += `<g class="node" data-node="${esc(node.id)}" data-status="${esc(status)}" transform="translate(${p.x},${p.y})">` +
      `<rect width="${W}" height="${H}"></rect>` +
      `<text x="8" y="18">${esc(node.name || node.id)}</text>` +
      `<text x="8" y="34" fill="#5b6475">${esc(node.nodeType || "")} · ${esc(status)}</text></g>`;
  }
  svg.innerHTML = out;
}

async function refresh() {
  if (!state.key) return;
  const p = params();
  if (p.execution) {
    await showExecution(p.execution);
    return;
  }
  document.getElementById("execution").hidden = true;
  if (await showExecutions()) await showDashboards();
}

function useKey(key) {
  state.key = key;
  sessionStorage.setItem("plugflow-key", key);
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 2000);
  refresh();
}

document.getElementById("key-form").addEventListener("submit", event => {
  event.preventDefault();
  useKey(document.getElementById("key").value.trim());
});
window.addEventListener("hashchange", refresh);

(function start() {
  const p = params();
  if (p.key) {
    // Taken from the fragment once, then dropped from the address bar.
    const rest = Object.entries(p).filter(([k]) => k !== "key").map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&");
    history.replaceState(null, "", location.pathname + (rest ? "#" + rest : ""));
    useKey(p.key);
  } else if (sessionStorage.getItem("plugflow-key")) {
    useKey(sessionStorage.getItem("plugflow-key"));
  }
})();
