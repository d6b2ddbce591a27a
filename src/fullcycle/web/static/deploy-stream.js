// Live progress of a deploy page: follows /api/v1/deploys/{id}/events (server-sent events),
// appends each stage's new log output and updates the status pills; reloads once it is over.
(function () {
  const script = document.currentScript;
  const id = script && script.dataset.deploy;
  if (!id || !window.EventSource) return;
  const source = new EventSource(`/api/v1/deploys/${id}/events`);
  const stage = (name) => document.querySelector(`[data-stage="${CSS.escape(name)}"]`);
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
    document.querySelector("[data-deploy-status]").textContent = data.status.replace("_", " ");
    for (const s of data.stages) {
      const section = stage(s.name);
      if (section) section.querySelector("[data-stage-status]").textContent = s.status;
    }
  });
  source.addEventListener("end", () => { source.close(); window.location.reload(); });
})();
