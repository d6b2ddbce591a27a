// Dashboards: uPlot charts from the URL in the grid's data-source (a service's automatic
// dashboard or a dashboard as code), or from the editor's preview of unsaved YAML.
// Time picker (kept in the URL and shared with other pages via localStorage
// "fullcycle.timeRange"), zoom by dragging, legend toggles, a tooltip with every series at the
// cursor, units, auto-refresh, and the service's deploy/incident markers on every chart.
// Everything from the server is put into the page as text, never as HTML.
(function () {
  "use strict";

  const root = document.querySelector("[data-dashboard]");
  if (!root) return;
  const source = root.dataset.source;
  const editor = document.querySelector("[data-dashboard-editor]");
  const controls = document.querySelector("[data-dashboard-controls]");
  const status = document.querySelector("[data-dashboard-status]");
  const resetZoom = document.querySelector("[data-reset-zoom]");
  const markerSection = document.querySelector("[data-markers]");
  const markerList = document.querySelector("[data-marker-list]");
  const TIME_KEY = "fullcycle.timeRange";
  const COLORS = ["#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6", "#64748b"];
  const MARKER_COLORS = { deploy: "#2563eb", rollback: "#d97706", incident: "#dc2626" };
  const MARKER_LABEL_ROWS = 3;
  // The colours of the logs page, so that a level looks the same everywhere.
  const LEVEL_COLORS = {
    trace: "#9aa5b1", debug: "#7b8794", info: "#3f9142", warn: "#d08c00",
    error: "#d64545", fatal: "#8b0000", unknown: "#b8c2cc",
  };
  const BAND_COLOR = "#94a3b8";
  const BAND_FILL = "rgba(148, 163, 184, 0.25)";

  const url = new URL(window.location.href);
  const state = {
    range: url.searchParams.get("range") || localStorage.getItem(TIME_KEY) || "1h",
    start: url.searchParams.get("start"),
    end: url.searchParams.get("end"),
    refresh: Number(url.searchParams.get("refresh") || 0),
  };
  let timer = null;
  let generation = 0; // answers to superseded requests are dropped
  // The drawn charts, by panel title: {plot, panel}; the browser test reads their data.
  window.fullcycleCharts = {};

  const units = {
    bytes(v) {
      const steps = ["B", "KiB", "MiB", "GiB", "TiB"];
      let i = 0;
      while (Math.abs(v) >= 1024 && i < steps.length - 1) { v /= 1024; i += 1; }
      return `${round(v)} ${steps[i]}`;
    },
    seconds(v) {
      const a = Math.abs(v);
      if (a === 0) return "0 s";
      if (a < 1e-3) return `${round(v * 1e6)} µs`;
      if (a < 1) return `${round(v * 1e3)} ms`;
      return `${round(v)} s`;
    },
    percent: (v) => `${round(v * 100)} %`,
    reqps: (v) => `${round(v)} req/s`,
    cores: (v) => `${round(v)} cores`,
    count: (v) => `${round(v)}`,
    currency: (v) => new Intl.NumberFormat(undefined, { style: "currency", currency: "EUR" }).format(v),
  };

  function round(v) {
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
  }

  function format(unit, v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    return (units[unit] || units.count)(v);
  }

  function query() {
    const params = new URLSearchParams();
    for (const [name, value] of url.searchParams) if (name.startsWith("var-")) params.set(name, value);
    if (state.start && state.end) {
      params.set("start", state.start);
      params.set("end", state.end);
    } else {
      params.set("range", state.range);
    }
    return params;
  }

  function remember() {
    const next = new URL(window.location.href);
    for (const name of ["range", "start", "end", "refresh"]) next.searchParams.delete(name);
    query().forEach((value, name) => next.searchParams.set(name, value));
    if (state.refresh) next.searchParams.set("refresh", String(state.refresh));
    window.history.replaceState(null, "", next);
    localStorage.setItem(TIME_KEY, state.range);
    resetZoom.hidden = !(state.start && state.end);
  }

  async function load() {
    remember();
    if (editor) return preview();
    status.textContent = "Loading…";
    const mine = ++generation;
    const response = await fetch(`${source}?${query()}`, { credentials: "same-origin" });
    if (mine === generation) show(response);
  }

  async function show(response) {
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      status.textContent = `Could not load the dashboard (${response.status}): ${body.detail || ""}`;
      return;
    }
    render(await response.json());
  }

  function csrfToken() {
    const headers = document.body.getAttribute("hx-headers");
    return headers ? JSON.parse(headers)["X-CSRF-Token"] : "";
  }

  async function preview() {
    status.textContent = "Previewing…";
    const mine = ++generation;
    const response = await fetch("/api/v1/dashboards/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ yaml: editor.source.value, range: state.range }),
    });
    if (mine === generation) show(response);
  }

  async function save() {
    const name = editor.dataset.name || (editor.source.value.match(/^name:\s*([a-z0-9-]+)/m) || [])[1];
    if (!name) {
      status.textContent = "The YAML needs a name: line.";
      return;
    }
    const response = await fetch(`/api/v1/dashboards/${encodeURIComponent(name)}`, {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ yaml: editor.source.value }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.textContent = `Not saved (${response.status}): ${body.detail || ""}`;
      return;
    }
    window.location.href = `/dashboards/${encodeURIComponent(name)}`;
  }

  function render(data) {
    for (const chart of Object.values(window.fullcycleCharts)) chart.plot.destroy();
    window.fullcycleCharts = {};
    root.replaceChildren();
    const range = `${new Date(data.start * 1000).toLocaleString()} – ${new Date(data.end * 1000).toLocaleString()}`;
    status.textContent = data.panels.length
      ? `${range}, every ${data.step} s.`
      : `No telemetry from this service between ${range}.`;
    // All panels are laid out first, so that each chart takes its panel's final width.
    let row = null;
    const places = data.panels.map((panel) => {
      if (panel.row && panel.row !== row) {
        const heading = document.createElement("h2");
        heading.className = "dashboard-row";
        heading.textContent = panel.row;
        root.append(heading);
      }
      row = panel.row;
      return placePanel(panel);
    });
    data.panels.forEach((panel, i) => {
      const type = panel.type || "timeseries";
      if (type === "timeseries") drawPanel(panel, data, places[i]);
      else if (type === "logs") drawLogs(panel, data, places[i]);
      else drawValues(panel, places[i]);
    });
    listMarkers(data.markers);
    root.dataset.loaded = String(Date.now());
  }

  function placePanel(panel) {
    const article = document.createElement("article");
    article.className = "dashboard-panel";
    article.dataset.panel = panel.title;
    const heading = document.createElement("h3");
    heading.textContent = panel.title;
    const chart = document.createElement("div");
    const tooltip = document.createElement("div");
    tooltip.className = "chart-tooltip";
    tooltip.hidden = true;
    article.append(heading, chart, tooltip);
    root.append(article);
    return { chart, tooltip };
  }

  // The expected band (anomaly detector): expected dashed, the range between lower and upper
  // filled; its series come after the panel's own, so the tooltip lists them last.
  function bandSeries(panel) {
    if (!panel.band) return { series: [], data: [], bands: [] };
    const first = panel.series.length + 1;
    const line = (label, dash) => ({
      label, stroke: BAND_COLOR, width: 1, dash, spanGaps: false,
      value: (u, v) => format(panel.unit, v),
    });
    return {
      series: [line("expected", [6, 4]), line("lower", []), line("upper", [])],
      data: [panel.band.expected, panel.band.lower, panel.band.upper],
      bands: [{ series: [first + 2, first + 1], fill: BAND_FILL }],
    };
  }

  function drawPanel(panel, data, { chart, tooltip }) {
    const width = Math.max(280, chart.clientWidth);
    const band = bandSeries(panel);
    const options = {
      width,
      height: 220,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      scales: { x: { time: true, min: data.start, max: data.end }, y: yScale(panel) },
      series: [
        {},
        ...panel.series.map((series, i) => ({
          label: series.name,
          stroke: LEVEL_COLORS[series.labels.level] || COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: false,
          value: (u, v) => format(panel.unit, v),
        })),
        ...band.series,
      ],
      bands: band.bands,
      axes: [{}, { size: 80, values: (u, values) => values.map((v) => format(panel.unit, v)) }],
      hooks: {
        draw: [(u) => drawMarkers(u, data.markers), (u) => drawThresholds(u, panel)],
        setSelect: [(u) => zoom(u)],
        setCursor: [(u) => showTooltip(u, panel, tooltip)],
      },
    };
    const values = [data.timestamps, ...panel.series.map((s) => s.values), ...band.data];
    const plot = new uPlot(options, values, chart);
    window.fullcycleCharts[panel.title] = { plot, panel };
  }

  function thresholdColor(panel, value) {
    let color = "";
    for (const threshold of panel.thresholds || []) if (value >= threshold.value) color = threshold.color;
    return color;
  }

  // stat: one big number per series; table: labels and value; kpi: now vs a week ago.
  function drawValues(panel, { chart }) {
    if (!panel.values.length) {
      chart.textContent = "No data";
      chart.className = "muted";
      return;
    }
    if (panel.type === "table") {
      const table = document.createElement("table");
      const names = [...new Set(panel.values.flatMap((v) => Object.keys(v.labels)))].sort();
      const head = table.createTHead().insertRow();
      for (const name of [...names, "value"]) head.insertCell().textContent = name;
      const body = table.createTBody();
      for (const item of panel.values) {
        const row = body.insertRow();
        for (const name of names) row.insertCell().textContent = item.labels[name] || "";
        row.insertCell().textContent = format(panel.unit, item.value);
      }
      chart.append(table);
      return;
    }
    for (const item of panel.values) {
      const block = document.createElement("div");
      block.className = "stat";
      const number = document.createElement("strong");
      number.className = "stat-value";
      number.textContent = format(panel.unit, item.value);
      const color = thresholdColor(panel, item.value);
      if (color) number.style.color = color;
      const caption = document.createElement("span");
      caption.className = "muted";
      caption.textContent = item.name;
      block.append(number, caption);
      if (panel.type === "kpi") {
        const change = document.createElement("span");
        change.className = "stat-change";
        change.dataset.testid = "kpi-change";
        const arrow = item.change === null ? "" : item.change >= 0 ? "▲" : "▼";
        change.textContent = item.change === null
          ? `last week: ${format(panel.unit, item.last_week)}`
          : `${arrow} ${round(Math.abs(item.change) * 100)} % vs last week (${format(panel.unit, item.last_week)})`;
        block.append(change);
      }
      chart.append(block);
    }
  }

  function drawLogs(panel, data, { chart }) {
    const link = document.createElement("a");
    const params = new URLSearchParams({ q: panel.queries[0], start: data.start, end: data.end });
    link.href = `/logs?${params}`;
    link.textContent = `Open the logs: ${panel.queries[0]}`;
    chart.append(link);
  }

  // The y axis reaches from 0 to every threshold, so that a panel far below its threshold still
  // shows the line (an error ratio of 0 with a 5 % threshold spans 0-5.5 %, not 0-10,000 %).
  function yScale(panel) {
    const levels = (panel.thresholds || []).map((threshold) => threshold.value);
    if (!levels.length) return {};
    const range = (u, min, max) =>
      uPlot.rangeNum(Math.min(0, min ?? 0, ...levels), Math.max(max ?? 0, ...levels), 0.1, true);
    return { range };
  }

  function drawThresholds(u, panel) {
    const ctx = u.ctx;
    ctx.save();
    ctx.lineWidth = devicePixelRatio;
    for (const threshold of panel.thresholds || []) {
      const y = Math.round(u.valToPos(threshold.value, "y", true));
      if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
      ctx.strokeStyle = threshold.color;
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
    }
    ctx.restore();
  }

  function drawMarkers(u, markers) {
    const ctx = u.ctx;
    const [min, max] = [u.scales.x.min, u.scales.x.max];
    ctx.save();
    ctx.setLineDash([4, 4]);
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.font = `${10 * devicePixelRatio}px sans-serif`;
    const shown = markers.filter((m) => m.timestamp_ms / 1000 >= min && m.timestamp_ms / 1000 <= max);
    for (const marker of shown) {
      const x = Math.round(u.valToPos(marker.timestamp_ms / 1000, "x", true));
      ctx.strokeStyle = MARKER_COLORS[marker.kind] || "#64748b";
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    u.markerLabels = placeMarkerLabels(u, ctx, shown);
    for (const label of u.markerLabels) {
      ctx.fillStyle = MARKER_COLORS[label.kind] || "#64748b";
      ctx.fillText(label.title, label.x, label.y);
    }
    ctx.restore();
  }

  // Where each marker's title goes: right of its line, or left of it at the plot's right edge,
  // in the first of MARKER_LABEL_ROWS rows where it overlaps no other title; a title that fits
  // in no row is left out (its line stays, and the list under the dashboard names it).
  function placeMarkerLabels(u, ctx, markers) {
    const gap = 3 * devicePixelRatio;
    const rows = Array.from({ length: MARKER_LABEL_ROWS }, () => []);
    const placed = [];
    for (const marker of markers) {
      const line = Math.round(u.valToPos(marker.timestamp_ms / 1000, "x", true));
      const width = ctx.measureText(marker.title).width;
      const right = u.bbox.left + u.bbox.width;
      const x = line + gap + width <= right ? line + gap : Math.max(u.bbox.left, line - gap - width);
      const row = rows.findIndex((taken) =>
        taken.every(([start, end]) => x + width + gap <= start || x >= end + gap),
      );
      if (row < 0) continue;
      rows[row].push([x, x + width]);
      const y = u.bbox.top + (10 + 12 * row) * devicePixelRatio;
      placed.push({ title: marker.title, kind: marker.kind, x, y, width });
    }
    return placed;
  }

  function showTooltip(u, panel, tooltip) {
    const index = u.cursor.idx;
    if (index === null || index === undefined) {
      tooltip.hidden = true;
      return;
    }
    const lines = [new Date(u.data[0][index] * 1000).toLocaleString()];
    panel.series.forEach((series, i) => {
      if (u.series[i + 1].show) lines.push(`${series.name}: ${format(panel.unit, u.data[i + 1][index])}`);
    });
    tooltip.textContent = lines.join("\n");
    tooltip.hidden = false;
    tooltip.style.left = `${u.cursor.left + 90}px`;
    tooltip.style.top = `${u.cursor.top + 40}px`;
  }

  function zoom(u) {
    if (u.select.width < 5) return;
    const from = u.posToVal(u.select.left, "x");
    const to = u.posToVal(u.select.left + u.select.width, "x");
    state.start = from.toFixed(3);
    state.end = to.toFixed(3);
    load();
  }

  function listMarkers(markers) {
    markerList.replaceChildren();
    for (const marker of markers) {
      const item = document.createElement("li");
      const when = new Date(marker.timestamp_ms).toLocaleString();
      const text = `${when} · ${marker.kind}: ${marker.title}`;
      if (marker.reference && marker.reference.startsWith("/")) {
        const link = document.createElement("a");
        link.href = marker.reference;
        link.textContent = text;
        item.append(link);
      } else {
        item.textContent = text;
      }
      markerList.append(item);
    }
    markerSection.hidden = markers.length === 0;
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = state.refresh ? setInterval(load, state.refresh * 1000) : null;
  }

  if (editor) {
    editor.querySelector("[data-preview]").addEventListener("click", preview);
    editor.querySelector("[data-save]").addEventListener("click", save);
  }
  controls.range.value = state.range;
  controls.refresh.value = String(state.refresh);
  controls.range.addEventListener("change", () => {
    state.range = controls.range.value;
    state.start = state.end = null;
    load();
  });
  controls.refresh.addEventListener("change", () => {
    state.refresh = Number(controls.refresh.value);
    remember();
    schedule();
  });
  resetZoom.addEventListener("click", () => {
    state.start = state.end = null;
    load();
  });
  schedule();
  load();
})();
