// The log explorer: the histogram (uPlot, stacked by level, drag to narrow the range) and live
// tail (server-sent events, pause, and dropping rather than freezing under load).
// Log text is attacker-controlled: it only ever goes into the page as textContent.
(function () {
  "use strict";

  const LEVEL_COLOURS = {
    trace: "#9aa5b1", debug: "#7b8794", info: "#3f9142", warn: "#d08c00",
    error: "#d64545", fatal: "#8b0000", unknown: "#b8c2cc",
  };
  const MAX_TAIL_ROWS = 1000;       // rows kept on the page
  const MAX_ROWS_PER_FRAME = 500;   // rows added per animation frame
  const MAX_PENDING = 5000;         // lines waiting to be drawn (or buffered while paused)

  function json(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function isoSeconds(seconds) {
    return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
  }

  // uPlot's default time labels with a 24-hour clock and ISO dates ("16:05", "2026-11-27"), as
  // the lines' times beside the chart, instead of "4:05pm" and "11/27/26".
  const AXIS_TIMES = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{MM}-{DD}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:00", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MM}-{DD}", null, null, null, 1],
    [1, ":{ss}", "\n{YYYY}-{MM}-{DD} {HH}:{mm}", null, "\n{MM}-{DD} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
  ];

  function drawHistogram() {
    const data = json("histogram-data");
    const view = json("view-data");
    const target = document.getElementById("histogram");
    if (!data || !target || typeof uPlot === "undefined") return;
    const levels = Object.keys(data.levels);
    const xs = data.buckets;
    // Stack: each series is the running total up to its level, drawn largest first.
    const stacked = [];
    let running = xs.map(() => 0);
    for (const level of levels) {
      running = running.map((total, i) => total + data.levels[level][i]);
      stacked.push(running);
    }
    const order = levels.map((_, i) => i).reverse();
    const bars = uPlot.paths.bars({ size: [0.9, 40] });
    const options = {
      width: target.clientWidth || 800,
      height: 140,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true } },
      // In UTC, as the lines beside it and every other time in fullcycle, not the browser's zone.
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      axes: [{ stroke: "#888", values: AXIS_TIMES }, { stroke: "#888", size: 40 }],
      series: [{}].concat(order.map((i) => ({
        label: levels[i], fill: LEVEL_COLOURS[levels[i]] || "#999", stroke: LEVEL_COLOURS[levels[i]] || "#999",
        width: 0, paths: bars, points: { show: false },
      }))),
      hooks: {
        setSelect: [(plot) => {
          if (plot.select.width < 3) return;
          const from = plot.posToVal(plot.select.left, "x");
          const to = plot.posToVal(plot.select.left + plot.select.width, "x");
          const params = new URLSearchParams({ q: view.q, from: isoSeconds(Math.floor(from)), to: isoSeconds(Math.ceil(to)) });
          if (view.view === "patterns") params.set("view", "patterns");
          window.location.assign("/logs?" + params.toString());
        }],
      },
    };
    const plot = new uPlot(options, [xs].concat(order.map((i) => stacked[i])), target);
    window.addEventListener("resize", () => plot.setSize({ width: target.clientWidth, height: 140 }));
  }

  function lineRow(line) {
    const row = document.createElement("div");
    row.className = "log-line level-" + line.level;
    const time = document.createElement("time");
    time.textContent = line.timestamp.slice(11, 23);
    time.title = line.timestamp;
    const level = document.createElement("span");
    level.className = "lvl";
    level.textContent = line.level !== "unknown" ? line.level : (line.severity_text || "-");
    const service = document.createElement("span");
    service.className = "svc";
    service.textContent = line.service;
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = line.body;
    row.append(time, " ", level, " ", service, " ", body);
    row.addEventListener("click", () => {
      if (window.htmx) window.htmx.ajax("GET", "/logs/lines/" + encodeURIComponent(line.id), "#line-detail");
      const url = new URL(window.location.href);  // the open line is part of the view's URL
      url.searchParams.set("line", line.id);
      window.history.replaceState(null, "", url);
    });
    return row;
  }

  function setUpTail() {
    const toggle = document.getElementById("tail-toggle");
    const section = document.getElementById("live-tail");
    const list = document.getElementById("tail-lines");
    const status = document.getElementById("tail-status");
    const pause = document.getElementById("tail-pause");
    if (!toggle || !section || !list) return;
    const state = { source: null, paused: false, pending: [], dropped: 0, shown: 0, frame: 0 };

    function report() {
      let text = state.shown.toLocaleString() + " lines";
      if (state.paused) text += " · paused, " + state.pending.length.toLocaleString() + " waiting";
      if (state.dropped) text += " · " + state.dropped.toLocaleString() + " dropped to keep up";
      status.textContent = text;
    }

    function enqueue(lines) {
      state.pending.push(...lines);
      const excess = state.pending.length - MAX_PENDING;
      if (excess > 0) {
        state.pending.splice(0, excess);   // keep the newest
        state.dropped += excess;
      }
      if (!state.paused && !state.frame) state.frame = requestAnimationFrame(draw);
      report();
    }

    function draw() {
      state.frame = 0;
      if (state.paused) return;
      const batch = state.pending.splice(0, MAX_ROWS_PER_FRAME);
      const fragment = document.createDocumentFragment();
      for (const line of batch) fragment.append(lineRow(line));
      const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
      list.append(fragment);
      while (list.childElementCount > MAX_TAIL_ROWS) list.firstElementChild.remove();
      if (atBottom) list.scrollTop = list.scrollHeight;
      state.shown += batch.length;
      if (state.pending.length) state.frame = requestAnimationFrame(draw);
      report();
    }

    function start() {
      section.hidden = false;
      toggle.textContent = "Stop tail";
      const params = new URLSearchParams({ q: toggle.dataset.q || "" });
      state.source = new EventSource("/api/v1/logs/tail?" + params.toString());
      state.source.addEventListener("lines", (event) => enqueue(JSON.parse(event.data)));
      state.source.addEventListener("dropped", (event) => {
        state.dropped += JSON.parse(event.data).count;
        report();
      });
      state.source.addEventListener("ready", () => { status.dataset.ready = "1"; report(); });
      report();
    }

    function stop() {
      if (state.source) state.source.close();
      state.source = null;
      toggle.textContent = "Live tail";
    }

    toggle.addEventListener("click", () => (state.source ? stop() : start()));
    pause.addEventListener("click", () => {
      state.paused = !state.paused;
      pause.textContent = state.paused ? "Resume" : "Pause";
      if (!state.paused && state.pending.length) state.frame = requestAnimationFrame(draw);
      report();
    });
  }

  function start() {
    drawHistogram();
    setUpTail();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
