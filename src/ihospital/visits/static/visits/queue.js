/* The doctor's queues, live: each [data-queue-department] card opens ws/queue/<id>/ and re-renders its waiting
   list on every "queue" event (the server sends the whole list, so nothing can drift). Without JavaScript the
   page still shows the list as it was when loaded, and "take the next patient" still works. No libraries. */
(function () {
  "use strict";

  var strings = {};

  function fill(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_m, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function clock(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) return "";
    try {
      return when.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: strings.tz });
    } catch (e) {
      return when.toTimeString().slice(0, 5);
    }
  }

  function rowFor(template, entry, position) {
    var node = template.content.firstElementChild.cloneNode(true);
    var field = function (name) { return node.querySelector('[data-field="' + name + '"]'); };
    node.setAttribute("data-visit-id", entry.visit_id);
    field("position").textContent = String(position);
    field("patient").textContent = entry.patient;
    field("meta").textContent = fill(strings.age, { age: entry.age }) + " · " + (strings[entry.sex] || "");
    field("mode").textContent = strings[entry.mode] || entry.mode;
    field("basis").hidden = entry.basis !== "pending_review";
    field("since").textContent = fill(strings.since, { time: clock(entry.queued_at) });
    var complaint = entry.complaint || "";
    field("complaint").textContent = complaint.length > 200 ? complaint.slice(0, 199) + "…" : complaint;
    return node;
  }

  function watch(card, template) {
    var id = card.getAttribute("data-queue-department");
    var list = card.querySelector("[data-queue-list]");
    var empty = card.querySelector("[data-queue-empty]");
    var count = card.querySelector("[data-queue-count]");
    var live = card.querySelector("[data-live]");
    var take = card.querySelector("[data-take]");
    var delay = 1000;

    function state(name) {
      if (!live) return;
      live.setAttribute("data-state", name);
      live.textContent = name === "open" ? strings.live : strings.offline;
    }

    function render(waiting) {
      var items = document.createDocumentFragment();
      waiting.forEach(function (entry, index) { items.appendChild(rowFor(template, entry, index + 1)); });
      list.replaceChildren(items);
      if (empty) empty.hidden = waiting.length > 0;
      if (count) count.textContent = fill(strings.waiting, { count: waiting.length });
      if (take) take.disabled = waiting.length === 0;
      card.setAttribute("data-waiting", String(waiting.length));
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + "/ws/queue/" + id + "/");
      var pinger = null;
      socket.addEventListener("open", function () {
        delay = 1000;
        state("open");
        pinger = window.setInterval(function () {
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
        }, 25000);
      });
      socket.addEventListener("message", function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        if (data && data.type === "queue" && Array.isArray(data.waiting)) render(data.waiting);
      });
      socket.addEventListener("close", function (event) {
        if (pinger) window.clearInterval(pinger);
        state("closed");
        // 4401: signed out or second factor missing; 4404: not this department's doctor. Retrying cannot help.
        if (event.code === 4401 || event.code === 4404) return;
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      });
    }

    connect();
  }

  function start() {
    var source = document.getElementById("queue-strings");
    var template = document.getElementById("queue-row-template");
    if (!source || !template || !("WebSocket" in window)) return;
    try { strings = JSON.parse(source.textContent); } catch (e) { return; }
    var cards = document.querySelectorAll("[data-queue-department]");
    for (var i = 0; i < cards.length; i++) watch(cards[i], template);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
