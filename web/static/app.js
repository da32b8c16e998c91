// Live refresh without reloading the page: the grid while runs are unfinished, and
// the log of a running try. Plain fetch + class swaps; no framework.
"use strict";

const FINISHED = new Set(["success", "failed", "skipped", "upstream_failed", "removed"]);

function setState(el, state) {  // swap the state-* class, keeping the element's other classes
  for (const cls of [...el.classList]) if (cls.startsWith("state-")) el.classList.remove(cls);
  el.classList.add("state-" + state);
}

function swapState(el, state) {  // a run header's or badge's state, and the end of its title
  setState(el, state);
  el.title = el.title.replace(/[^·]*$/, " " + state);
}

// The grid: each cell is a bare <td> (a row per task or group, a column per run) that
// this code makes a link, a tooltip and a keyboard cursor; groups fold their rows away.
const stateOf = (el) => (el.className.match(/state-(\S+)/) || [, "none"])[1];

function formatDuration(seconds) {  // as miniflow.web.humanize.format_duration
  if (seconds < 60) return seconds.toFixed(2) + "s";
  const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}h ${pad(m)}m ${pad(s % 60)}s` : `${m}m ${pad(s % 60)}s`;
}

function setupGrid(wrap) {
  const table = wrap.querySelector("table.grid");
  const runs = [...table.tHead.rows[0].cells].slice(1).map((th) => th.dataset.runId);
  const rows = () => [...table.tBodies[0].rows].filter((tr) => !tr.hidden);
  const rowOf = (id) => table.querySelector(`tbody tr[data-row="${CSS.escape(id)}"]`);
  const where = (td) => [td.parentElement, runs[td.cellIndex - 1]];
  const storeKey = "miniflow.grid.folded." + wrap.dataset.dagId;
  let folded;
  try { folded = new Set(JSON.parse(localStorage.getItem(storeKey) || "[]")); } catch (e) { folded = new Set(); }
  let cursor = null;

  const moveTo = (td) => {
    if (cursor) cursor.classList.remove("cursor");
    cursor = td;
    if (td) { td.classList.add("cursor"); td.scrollIntoView({ block: "nearest", inline: "nearest" }); }
  };
  const applyFolds = () => {
    for (const tr of table.tBodies[0].rows) {
      tr.hidden = (tr.dataset.groups || "").split(" ").some((g) => folded.has(g));
      const button = tr.querySelector("button.fold");
      if (button) button.setAttribute("aria-expanded", String(!folded.has(button.dataset.group)));
    }
    if (cursor && cursor.parentElement.hidden) {  // onto the row of the group that hid it
      const outermost = cursor.parentElement.dataset.groups.split(" ").find((g) => folded.has(g));
      moveTo(rowOf(outermost).cells[cursor.cellIndex]);
    }
    try { localStorage.setItem(storeKey, JSON.stringify([...folded])); } catch (e) { /* private mode */ }
  };
  const toggle = (group) => { folded.has(group) ? folded.delete(group) : folded.add(group); applyFolds(); };
  const groups = [...table.querySelectorAll("button.fold")].map((b) => b.dataset.group);
  const all = (fold) => () => { folded = new Set(fold ? groups : []); applyFolds(); };
  for (const [id, fold] of [["grid-fold-all", true], ["grid-unfold-all", false]]) {
    const button = document.getElementById(id);
    if (button) button.addEventListener("click", all(fold));
  }
  const open = (td) => {
    const [tr, runId] = where(td);
    if (tr.classList.contains("group")) { toggle(tr.dataset.row); return; }
    window.location = wrap.dataset.tiUrl.replace("%7Brun%7D", encodeURIComponent(runId))
      .replace("%7Btask%7D", encodeURIComponent(tr.dataset.row));
  };
  table.addEventListener("click", (event) => {
    const button = event.target.closest("button.fold");
    if (button) { toggle(button.dataset.group); return; }
    const td = event.target.closest("td");
    if (td) { moveTo(td); open(td); }
  });
  table.addEventListener("mouseover", (event) => {
    const td = event.target.closest("td");
    if (!td || td.title) return;
    const [tr, runId] = where(td);
    const parts = [tr.dataset.row, runId];
    if (td.dataset.d) parts.push(formatDuration(Number(td.dataset.d)));
    const state = stateOf(td);
    if (tr.classList.contains("mapped") && td.dataset.s) parts.push(`${td.textContent} mapped: ${td.dataset.s}`);
    else parts.push(state === "none" ? "no state" : state + (td.dataset.s ? ` (${td.dataset.s})` : ""));
    td.title = parts.join(" · ");
  });
  applyFolds();

  // Keyboard, on the grid itself (a focused fold button keeps its own keys): arrows
  // move the cursor over visible cells, Home/End jump to the first or latest run,
  // Enter opens the cell (or folds a group's row), Space folds the group the cursor is
  // on or in.
  table.addEventListener("focus", () => {
    if (!cursor && rows().length && runs.length) moveTo(rows()[0].cells[runs.length]);
  });
  table.addEventListener("keydown", (event) => {
    if (!cursor || event.target !== table) return;
    const visible = rows(), r = visible.indexOf(cursor.parentElement), c = cursor.cellIndex;
    const at = (row, col) => visible[Math.max(0, Math.min(visible.length - 1, row))]
      .cells[Math.max(1, Math.min(runs.length, col))];
    const moves = { ArrowUp: [r - 1, c], ArrowDown: [r + 1, c], ArrowLeft: [r, c - 1], ArrowRight: [r, c + 1],
                    Home: [r, 1], End: [r, runs.length] };
    const tr = cursor.parentElement;
    const group = tr.classList.contains("group") ? tr.dataset.row : (tr.dataset.groups || "").split(" ").pop();
    if (moves[event.key]) moveTo(at(...moves[event.key]));
    else if (event.key === "Enter") open(cursor);
    else if (event.key === " " && group) toggle(group);
    else return;
    event.preventDefault();
  });
}

async function refreshGrid(wrap) {
  const response = await fetch(wrap.dataset.url, { headers: { Accept: "application/json" } });
  if (!response.ok) return false;
  const data = await response.json();
  const table = wrap.querySelector("table.grid");
  const columns = [...table.tHead.rows[0].cells].slice(1).map((th) => th.dataset.runId);
  if (data.runs.map(([runId]) => runId).join("\n") !== columns.join("\n")) {
    window.location.reload();  // a run came or went: the columns are no longer the page's
    return false;
  }
  let unfinished = false;
  for (const [runId, state] of data.runs) {
    const head = wrap.querySelector(`.run-head[data-run-id="${CSS.escape(runId)}"]`);
    if (head) swapState(head, state);
    const bar = wrap.querySelector(`rect.run-bar[data-run-id="${CSS.escape(runId)}"]`);
    if (bar) bar.setAttribute("class", "run-bar state-" + state);
    if (!FINISHED.has(state)) unfinished = true;
  }
  for (const tr of table.tBodies[0].rows) {
    (data.rows[tr.dataset.row] || []).forEach(([state, seconds, instances, states], i) => {
      const td = tr.cells[i + 1];
      setState(td, state);
      if (seconds === null) delete td.dataset.d; else td.dataset.d = seconds;
      if (instances === null) delete td.dataset.s; else td.dataset.s = states;
      if (tr.classList.contains("mapped")) td.textContent = instances === null ? "" : instances;
      td.removeAttribute("title");
    });
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

// Forms, or the buttons of a form, that delete or redo something ask first
// (data-confirm); an inline onsubmit would be refused by the pages' Content-Security-Policy.
document.addEventListener("submit", (event) => {
  const asker = (event.submitter && event.submitter.dataset.confirm) ? event.submitter : event.target;
  const question = asker.dataset && asker.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// A "tick all" box ticks every row of its form.
document.addEventListener("change", (event) => {
  if (!event.target.matches("input[data-tick-all]")) return;
  for (const box of event.target.form.querySelectorAll('input[type="checkbox"][name="key"]')) {
    box.checked = event.target.checked;
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const graph = document.getElementById("graph");
  if (graph) zoomable(graph);
  const grid = document.getElementById("grid");
  if (grid) { setupGrid(grid); poll(refreshGrid, grid, 1500); }
  const log = document.getElementById("log");
  if (log && log.dataset.active === "true") poll(refreshLog, log, 1500);
});
