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

document.addEventListener("DOMContentLoaded", () => {
  const grid = document.getElementById("grid");
  if (grid) poll(refreshGrid, grid, 1500);
  const log = document.getElementById("log");
  if (log && log.dataset.active === "true") poll(refreshLog, log, 1500);
});
