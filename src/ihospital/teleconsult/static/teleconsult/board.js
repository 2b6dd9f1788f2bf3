/* Deadline countdowns on the consultation pages: every [data-countdown] (a Unix time) shows the time left, or
   "overdue" (its data-late text) once past, and marks its .tc-due overdue. Ticks every 30 s. Without JavaScript
   the page shows the deadline's local time. */
(function () {
  "use strict";

  function fmt(seconds) {
    var m = Math.floor(Math.abs(seconds) / 60);
    var h = Math.floor(m / 60);
    var d = Math.floor(h / 24);
    if (d >= 1) return d + "d " + (h % 24) + "h";
    if (h >= 1) return h + "h " + (m % 60) + "m";
    return m + "m";
  }

  function tick() {
    var now = Date.now() / 1000;
    var marks = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < marks.length; i++) {
      var el = marks[i];
      var left = Number(el.getAttribute("data-countdown")) - now;
      if (!isFinite(left)) continue;
      var box = el.closest ? el.closest(".tc-due") : null;
      if (left <= 0) {
        el.textContent = el.getAttribute("data-late") || "overdue";
        if (box) { box.classList.add("tc-overdue"); box.setAttribute("data-overdue", "1"); }
      } else {
        el.textContent = "(" + fmt(left) + ")";
      }
    }
  }

  window.ihospitalTcTick = tick;
  document.addEventListener("teleconsult:refreshed", tick);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tick);
  else tick();
  window.setInterval(tick, 30000);
})();
