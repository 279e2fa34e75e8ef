// Live updates of a run page and a batch board: server-sent events from the console (plain JS, no framework).
// Without this file the pages still show the state at the time they were loaded.
"use strict";
(() => {
  const findings = document.querySelector("#run-findings[data-events]");
  if (findings) {
    const events = new EventSource(findings.dataset.events);
    events.addEventListener("progress", (message) => {
      const row = JSON.parse(message.data);
      const tr = document.createElement("tr");
      for (const value of [row.seq, row.requirement, row.verdict, row.reason || ""]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      }
      tr.children[2].className = "verdict-" + row.verdict;
      findings.tBodies[0].appendChild(tr);
      const bar = document.getElementById("run-progress");
      bar.max = row.total || 1;
      bar.value = row.seq;
      document.getElementById("run-count").textContent = row.seq + "/" + row.total;
    });
    events.addEventListener("done", () => { events.close(); window.location.reload(); });
  }
  const board = document.querySelector("#board[data-events]");
  if (board) {
    const events = new EventSource(board.dataset.events);
    events.addEventListener("board", (message) => {
      const data = JSON.parse(message.data);
      for (const cell of board.querySelectorAll("[data-field]")) {
        const value = cell.dataset.field.split(".").reduce((object, key) => object[key], data);
        cell.textContent = value;
      }
      document.getElementById("batch-progress").value = data.jobs.done + data.jobs.failed;
      if (data.state === "done" || data.state === "stopped") { events.close(); window.location.reload(); }
    });
  }
})();
