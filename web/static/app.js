// Live refresh without reloading the page: the grid while runs are unfinished, and
// the log of a running try. Plain fetch + class swaps; no framework.
"use strict";

const FINISHED = new Set(["success", "failed", "skipped", "upstream_failed", "removed"]);

function swapState(el, state) {
  for (const cls of [...el.classList]) if (cls.startsWith("state-")) el.classList.remove(cls);
  el.classList.add("state-" + state);
  el.title = el.title.replace(/[^·]*$/, " " + state);
}

async function refreshGrid(grid) {
  const response = await fetch(grid.dataset.url, { headers: { Accept: "application/json" } });
  if (!response.ok) return false;
  const data = await response.json();
  let unfinished = false;
  for (const [runId, state] of Object.entries(data.runs)) {
    const head = grid.querySelector(`.run-head[data-run-id="${CSS.escape(runId)}"]`);
    if (head) swapState(head, state);
    const bar = grid.querySelector(`rect.run-bar[data-run-id="${CSS.escape(runId)}"]`);
    if (bar) bar.setAttribute("class", "run-bar state-" + state);
    if (!FINISHED.has(state)) unfinished = true;
  }
  for (const [runId, cells] of Object.entries(data.cells)) {
    for (const [taskId, state] of Object.entries(cells)) {
      const cell = grid.querySelector(`.cell[data-run-id="${CSS.escape(runId)}"][data-task-id="${CSS.escape(taskId)}"]`);
      if (cell) swapState(cell, state);
    }
  }
  return unfinished;
}

async function refreshLog(log) {
  const response = await fetch(log.dataset.url, { headers: { Accept: "application/json" } });
  if (!response.ok) return false;
  const data = await response.json();
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = data.content || "No log yet.";
  if (atBottom) log.scrollTop = log.scrollHeight;
  const badge = document.getElementById("ti-state");
  if (badge && data.state) { swapState(badge, data.state); badge.textContent = data.state; }
  return !FINISHED.has(data.state);
}

function poll(fn, el, every) {
  const tick = async () => {
    let again = true;
    try { again = await fn(el); } catch (e) { again = true; }
    if (again) setTimeout(tick, every);
  };
  setTimeout(tick, every);
}

// The graph: the mouse wheel zooms around the pointer, dragging moves the view, "Fit"
// shows it all again. Only the SVG's viewBox changes; the drawing is the server's.
function zoomable(svg) {
  const full = [0, 0, Number(svg.dataset.width), Number(svg.dataset.height)];
  let box = [...full];
  const show = () => svg.setAttribute("viewBox", box.join(" "));
  const toGraph = (event) => {
    const rect = svg.getBoundingClientRect();
    return [box[0] + (event.clientX - rect.left) / rect.width * box[2],
            box[1] + (event.clientY - rect.top) / rect.height * box[3]];
  };
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [x, y] = toGraph(event);
    const factor = event.deltaY > 0 ? 1.2 : 1 / 1.2;
    const width = Math.min(full[2] * 4, Math.max(80, box[2] * factor));
    const scale = width / box[2];
    box = [x - (x - box[0]) * scale, y - (y - box[1]) * scale, width, box[3] * scale];
    show();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest("a")) return;  // a task's link still opens it
    drag = [event.clientX, event.clientY, box[0], box[1]];
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const rect = svg.getBoundingClientRect();
    box[0] = drag[2] - (event.clientX - drag[0]) / rect.width * box[2];
    box[1] = drag[3] - (event.clientY - drag[1]) / rect.height * box[3];
    show();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
  const fit = document.getElementById("graph-fit");
  if (fit) fit.addEventListener("click", () => { box = [...full]; show(); });
}

// Forms that delete something ask first (data-confirm); an inline onsubmit would be
// refused by the pages' Content-Security-Policy.
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  const graph = document.getElementById("graph");
  if (graph) zoomable(graph);
  const grid = document.getElementById("grid");
  if (grid) poll(refreshGrid, grid, 1500);
  const log = document.getElementById("log");
  if (log && log.dataset.active === "true") poll(refreshLog, log, 1500);
});
