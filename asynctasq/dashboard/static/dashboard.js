// asynctasq dashboard: confirm actions, and keep the page live without reloading it.
// Live: one EventSource per page; each event (debounced) re-reads this page and swaps
// its <main>. With events off the server says "polling" and the page re-reads on a timer.
"use strict";
(function () {
  const root = document.body.dataset.root || "/";
  const status = document.getElementById("live");

  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form.dataset && form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  let pending = null;
  function typing() {
    const focused = document.activeElement;
    return Boolean(focused && focused.closest && focused.closest("form"));
  }
  async function refresh() {
    pending = null;
    if (typing()) return; // do not eat typing
    try {
      const answer = await fetch(location.href, { headers: { "X-Refresh": "1" } });
      if (answer.status >= 500 || answer.status === 401) return;  // keep what is shown
      const text = await answer.text();
      if (typing()) return; // the operator began to type while the page was read
      const fresh = new DOMParser().parseFromString(text, "text/html");
      const main = fresh.getElementById("main");
      if (main) document.getElementById("main").replaceWith(main);
    } catch (e) { /* the next event or tick tries again */ }
  }
  function soon() { if (!pending) pending = setTimeout(refresh, 300); }

  function poll(seconds) {
    if (status) status.textContent = "refreshing every " + seconds + "s";
    setInterval(refresh, seconds * 1000);
  }

  // a bulk action's page: its own stream of progress, until the run ends
  function followBulk() {
    const section = document.getElementById("bulk");
    const url = section && section.dataset.stream;
    if (!url || !window.EventSource || section.dataset.following) return;
    section.dataset.following = "1";
    const progress = new EventSource(url);
    function show(event) {
      const run = JSON.parse(event.data);
      const bar = document.getElementById("bulk-progress");
      const text = document.getElementById("bulk-status");
      const box = document.getElementById("bulk");
      if (box) box.dataset.phase = run.phase;
      if (bar && run.phase !== "selecting") { bar.max = Math.max(run.matched, 1); bar.value = run.done; }
      if (!text) return;
      if (run.phase === "selecting") {
        text.textContent = "Selecting: " + run.read.toLocaleString("en") + " jobs read, " +
          run.matched.toLocaleString("en") + " match";
      } else if (run.phase === "running") {
        text.textContent = run.done.toLocaleString("en") + " of " +
          run.matched.toLocaleString("en") + " done";
      } else {
        text.textContent = run.report;
      }
    }
    progress.addEventListener("progress", show);
    progress.addEventListener("done", function (event) { show(event); progress.close(); });
  }
  followBulk();

  if (!window.EventSource) { poll(5); return; }
  const source = new EventSource(root + "events");
  // on every (re)connection, read the page once: what changed while the stream was not
  // yet (or no longer) open has sent its event to nobody
  source.addEventListener("open", function () {
    if (status) status.textContent = "live";
    soon();
  });
  source.addEventListener("message", soon);
  source.addEventListener("polling", function (event) {
    source.close();
    poll(parseInt(event.data, 10) || 5);
  });
  source.addEventListener("error", function () {
    if (status && source.readyState !== EventSource.CLOSED) status.textContent = "reconnecting";
  });
})();
