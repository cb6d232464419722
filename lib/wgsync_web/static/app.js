// wgsync-web's only script (progressive enhancement: every page works
// without it). Live updates over server-sent events and the overview's
// charts (uPlot). Text from the server is only ever set with textContent.
"use strict";

const page = document.body.dataset.page;

/** A table cell holding `text`. */
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

/** What the detail column shows (as eventDetail in events_page.tsx). */
function detail(event) {
  if (event.problem) return `unreadable body: ${event.problem}`;
  if (event.offloaded) return "body in S3 (claim check)";
  if (event.member !== undefined) return event.member;
  if (event.previous !== undefined) return `renamed from ${event.previous}`;
  if (event.members !== undefined) return `${event.members} member(s)`;
  return "";
}

function eventRow(event) {
  const tr = document.createElement("tr");
  tr.dataset.id = event.id;
  tr.className = "new";
  tr.append(
    cell(new Date(event.receivedAt).toISOString().replace(/\.\d{3}Z$/, "Z")),
    cell(event.type),
  );
  const workgroup = document.createElement("td");
  const link = document.createElement("a");
  link.href = `/workgroup?${new URLSearchParams({ name: event.workgroup })}`;
  link.textContent = event.workgroup;
  workgroup.append(link);
  const id = document.createElement("code");
  id.textContent = event.id.slice(0, 12);
  const idCell = document.createElement("td");
  idCell.append(id);
  tr.append(
    workgroup,
    cell(detail(event)),
    cell(event.seq === undefined ? "" : String(event.seq)),
    idCell,
  );
  return tr;
}

function followEvents() {
  const table = document.getElementById("events");
  if (!table || !table.dataset.stream) return;
  const body = table.querySelector("tbody");
  const source = new EventSource(table.dataset.stream);
  source.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    // The stream replays what came since the page was read: skip what it shows.
    const shown = [...body.rows].some((row) => row.dataset.id === event.id);
    if (shown) return;
    body.prepend(eventRow(event));
    while (body.rows.length > 500) body.deleteRow(-1);
  });
  document.body.dataset.live = "connecting";
  source.addEventListener("open", () => document.body.dataset.live = "open");
}

const charts = new Map();

/**
 * The chart's data with an empty point an hour before the newest, so the x
 * axis always spans the last hour (a few points do not stretch or squeeze it).
 */
function lastHour(data) {
  const times = data[0];
  const last = times.length > 0 ? times[times.length - 1] : Date.now() / 1000;
  if (times.length > 0 && times[0] <= last - 3600) return data;
  return [[last - 3600, ...times], ...data.slice(1).map((s) => [null, ...s])];
}

function drawCharts(series) {
  if (typeof uPlot === "undefined") return;
  for (const figure of document.querySelectorAll("figure.chart")) {
    const key = figure.dataset.figure;
    const roles = series.roles.filter((role) =>
      series.points.some((p) => p.values[role]?.[key] != null)
    );
    const data = lastHour([
      series.points.map((p) => p.t / 1000),
      ...roles.map((role) =>
        series.points.map((p) => p.values[role]?.[key] ?? null)
      ),
    ]);
    const existing = charts.get(key);
    if (existing && existing.roles.join() === roles.join()) {
      existing.plot.setData(data);
      continue;
    }
    existing?.plot.destroy();
    if (roles.length === 0) continue;
    const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    const plot = new uPlot(
      {
        width: Math.min(figure.clientWidth || 600, 900),
        height: 200,
        series: [
          {},
          ...roles.map((role, i) => ({
            label: role,
            stroke: colours[i % colours.length],
            spanGaps: false,
          })),
        ],
      },
      data,
      figure,
    );
    charts.set(key, { plot, roles });
  }
}

async function loadSeries() {
  const response = await fetch("/overview.json");
  if (!response.ok) return;
  const overview = await response.json();
  drawCharts(overview.series);
  return overview;
}

function updateRoles(states) {
  for (const state of states) {
    const row = document.querySelector(
      `tr[data-role="${CSS.escape(state.name)}"]`,
    );
    if (!row) continue;
    row.className = state.up ? "up" : "down";
    row.querySelector('[data-cell="state"]').textContent = state.text;
    for (const [key, text] of Object.entries(state.cells)) {
      const td = row.querySelector(`[data-figure="${CSS.escape(key)}"]`);
      if (td) td.textContent = text;
    }
  }
}

function followOverview() {
  loadSeries();
  const source = new EventSource("/overview/stream");
  source.addEventListener("scrape", (message) => {
    updateRoles(JSON.parse(message.data));
    loadSeries();
  });
}

if (page === "overview") followOverview();
if (page === "events" || page === "workgroup") followEvents();
