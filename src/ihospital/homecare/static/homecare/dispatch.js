/* The dispatchers' day board (/homecare/dispatch/<day>/), beside homecare/live.js which keeps the board itself
   fresh (the board's [data-hc-refresh] part re-reads ?part=board on every "changed" frame).

   Here:
   - ALARMS: every "homecare:alarm" event (a nurse pressed the alarm, or a visit overran) shows at the top of the
     page until it is resolved, with a link to the security console. Written with textContent only: the payload
     holds names and addresses typed by people, never markup.
   - DAY PICKER: choosing a date in the date field opens that day's board (the form works without JavaScript too,
     through /homecare/dispatch/?day=YYYY-MM-DD).
   - FOCUS ON ONE NURSE: pointing at a nurse (their row, lane, route or pins) dims everyone else's, so one route
     can be followed on a busy map. */
(function () {
  "use strict";

  var strings = {};

  function alarmText(alarm) {
    var parts = [alarm.nurse || "", alarm.raised_at || "", strings[alarm.status] || alarm.status || ""];
    if (alarm.visit) parts.push(alarm.visit);
    if (alarm.address) parts.push(alarm.address);
    if (alarm.nurse_phone) parts.push(alarm.nurse_phone);
    return " · " + parts.filter(Boolean).join(" · ") + " · ";
  }

  function showAlarm(event) {
    var alarm = event.detail || {};
    var list = document.getElementById("dispatch-alarms");
    if (!list || alarm.id === undefined || alarm.id === null) return;
    var item = list.querySelector('[data-alarm-id="' + String(alarm.id).replace(/[^0-9]/g, "") + '"]');
    if (alarm.status === "resolved") {
      if (item) item.parentNode.removeChild(item);
      return;
    }
    if (!item) {
      item = document.createElement("li");
      item.className = "alert alert-error hc-alarm";
      item.setAttribute("data-alarm-id", String(alarm.id));
      item.setAttribute("data-testid", "alarm");
      item.setAttribute("role", "alert");
      list.insertBefore(item, list.firstChild);
    }
    item.setAttribute("data-status", alarm.status || "raised");
    item.textContent = "";
    var kind = document.createElement("strong");
    kind.textContent = alarm.kind_label || alarm.kind || "";
    item.appendChild(kind);
    item.appendChild(document.createTextNode(alarmText(alarm)));
    var link = document.createElement("a");
    link.href = list.getAttribute("data-console") || "/homecare/security/";
    link.textContent = strings.console || "Security console";
    item.appendChild(link);
  }

  function pickDay(event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-base]") || !/^\d{4}-\d{2}-\d{2}$/.test(input.value)) return;
    window.location.assign(input.getAttribute("data-base") + input.value + "/");
  }

  function nurseOf(element) {
    var marked = element && element.closest ? element.closest(".hc-board [data-nurse]") : null;
    return marked ? marked.getAttribute("data-nurse") : null;
  }

  function focusNurse(nurse) {
    var marked = document.querySelectorAll(".hc-board [data-nurse]");
    for (var i = 0; i < marked.length; i++) {
      var other = nurse !== null && marked[i].getAttribute("data-nurse") !== nurse;
      if (marked[i].classList) marked[i].classList.toggle("hc-dim", other);
      else marked[i].setAttribute("class", (marked[i].getAttribute("class") || "").replace(/\s*hc-dim/g, "") +
                                            (other ? " hc-dim" : ""));
    }
  }

  function start() {
    var source = document.getElementById("hc-alarm-strings");
    if (source) {
      try { strings = JSON.parse(source.textContent) || {}; } catch (e) { strings = {}; }
    }
    document.addEventListener("homecare:alarm", showAlarm);
    document.addEventListener("change", pickDay);
    document.addEventListener("mouseover", function (event) { focusNurse(nurseOf(event.target)); });
    document.addEventListener("mouseleave", function () { focusNurse(null); });
    document.addEventListener("focusin", function (event) { focusNurse(nurseOf(event.target)); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
