// Live progress of a deploy page: follows /api/v1/deploys/{id}/events (server-sent events),
// appends each stage's new log output and updates the status pills (text and colour); reloads
// once it is over.
(function () {
  const script = document.currentScript;
  const id = script && script.dataset.deploy;
  if (!id || !window.EventSource) return;
  const source = new EventSource(`/api/v1/deploys/${id}/events`);
  const pills = JSON.parse(script.dataset.pills || "{}");
  const stage = (name) => document.querySelector(`[data-stage="${CSS.escape(name)}"]`);
  // The text and the colour of a status pill, as the server renders them.
  const setStatus = (pill, status) => {
    pill.textContent = status.replace("_", " ");
    pill.className = "pill " + (pills[status] || "pill-off");
  };
  let firstLog = {};
  source.addEventListener("log", (event) => {
    const data = JSON.parse(event.data);
    const section = stage(data.stage);
    if (!section) return;
    const pre = section.querySelector("[data-stage-log]");
    if (!firstLog[data.stage]) { pre.textContent = ""; firstLog[data.stage] = true; }
    pre.textContent += (pre.textContent ? "\n" : "") + data.text;
  });
  source.addEventListener("deploy", (event) => {
    const data = JSON.parse(event.data);
    setStatus(document.querySelector("[data-deploy-status]"), data.status);
    for (const s of data.stages) {
      const section = stage(s.name);
      if (section) setStatus(section.querySelector("[data-stage-status]"), s.status);
    }
  });
  source.addEventListener("end", () => { source.close(); window.location.reload(); });
})();
