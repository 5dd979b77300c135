// The console's only script: plain JavaScript, no build step. Pages work without it; it adds
// the live 48-hour timers on the returns desk and the SLA panel's refresh on the dispatch board.
(function () {
  "use strict";

  function spell(ms) {
    var minutes = Math.round(Math.abs(ms) / 60000);
    var text = Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
    return ms < 0 ? "overdue by " + text : text + " left";
  }

  function tickTimers() {
    var now = Date.now();
    document.querySelectorAll(".timer[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(deadline)) { return; }
      var left = deadline - now;
      el.textContent = spell(left);
      el.classList.toggle("overdue", left < 0);
      el.title = "decision due " + new Date(deadline).toISOString().replace("T", " ").slice(0, 16) + " UTC";
    });
  }

  function refreshPanel(panel) {
    var url = panel.getAttribute("data-refresh");
    var seconds = parseInt(panel.getAttribute("data-refresh-seconds") || "30", 10);
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.redirected || !r.ok) { throw new Error("sign-in needed or service down"); }
          return r.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById(panel.id);
          if (fresh) { panel.replaceChildren.apply(panel, Array.from(fresh.childNodes)); }
        })
        .catch(function () { /* keep the last panel; the next full page load shows the reason */ });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tickTimers();
    setInterval(tickTimers, 30000);
    document.querySelectorAll("[data-refresh]").forEach(refreshPanel);
  });
})();
