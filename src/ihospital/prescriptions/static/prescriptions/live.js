/* Live prescription lists. One socket, ws/prescriptions/live/, says only that something changed
   ({"type": "changed", "what": "prescription"|"refill", "id", "status"}); every element marked data-live-refresh
   then re-reads itself over HTTP through its own hx-get (the same scoped view that drew it), so no health data
   travels on the socket. Optional filters on an element: data-live-what="refill,prescription", data-live-id="12".
   Reconnects with backoff (1 s doubling to 30 s) and refreshes everything after a reconnect, since events sent
   while it was away are not replayed. Without JavaScript the page shows the lists as they were when loaded. */
(function () {
  "use strict";

  var strings = {};
  var state = { ready: false, events: 0, refreshes: 0, socket: null };
  var delay = 1000;
  window.ihospitalRxLive = state;

  function indicate(name) {
    var marks = document.querySelectorAll("[data-live-state]");
    for (var i = 0; i < marks.length; i++) {
      marks[i].setAttribute("data-state", name);
      marks[i].textContent = strings[name] || "";
    }
  }

  function wanted(element, event) {
    if (!event) return true;
    var what = element.getAttribute("data-live-what");
    if (what && what.split(",").indexOf(event.what) === -1) return false;
    var id = element.getAttribute("data-live-id");
    return !id || String(event.id) === id;
  }

  function busy(element) {
    // Never pull the ground from under someone typing in a live part.
    var active = document.activeElement;
    return active && element.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) &&
      active.type !== "submit" && active.type !== "button";
  }

  function refresh(event) {
    if (!window.htmx) return;
    var targets = document.querySelectorAll("[data-live-refresh]");
    for (var i = 0; i < targets.length; i++) {
      if (wanted(targets[i], event) && !busy(targets[i])) window.htmx.trigger(targets[i], "rx-changed");
    }
  }

  function connect(reconnecting) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/prescriptions/live/");
    var pinger = null;
    state.socket = socket;
    indicate(reconnecting ? "closed" : "connecting");
    socket.addEventListener("open", function () {
      delay = 1000;
      indicate("open");
      pinger = window.setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    });
    socket.addEventListener("message", function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (!data) return;
      if (data.type === "hello") {
        state.ready = true;
        if (reconnecting) refresh(null);  // whatever happened while away
      } else if (data.type === "changed") {
        state.events += 1;
        refresh(data);
      }
    });
    socket.addEventListener("close", function (event) {
      if (pinger) window.clearInterval(pinger);
      state.ready = false;
      indicate("closed");
      // 4401: signed out or second factor missing. Retrying cannot help; a reload leads to the sign-in.
      if (event.code === 4401) return;
      window.setTimeout(function () { connect(true); }, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  function start() {
    var source = document.getElementById("rx-live-strings");
    if (!source || !("WebSocket" in window)) return;
    try { strings = JSON.parse(source.textContent); } catch (e) { strings = {}; }
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-live-refresh")) {
        state.refreshes += 1;
      }
    });
    connect(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
