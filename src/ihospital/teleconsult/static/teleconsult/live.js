/* The consultation pages' live socket client (ws/teleconsult/live/, consumers.LiveConsumer).

   The socket joins the groups of what the user may see and forwards {"type": "changed", "what", "id", "status"}
   (no clinical detail). On each, this script re-reads the page over HTTP (through the page's own scoped view)
   and swaps every element marked data-tc-refresh (it needs an id) for the fresh copy, unless the user is typing
   in it. data-tc-id="12" limits an element to events about request 12. After a reconnect everything is re-read
   (events sent while away are not replayed). Elements with data-tc-live-state show the socket's state, using
   their data-open / data-closed / data-refused texts.

   window.ihospitalTcLive = {ready, events, refreshes}: read by the browser tests.
   Reconnects with backoff (1 s doubling to 30 s); close code 4401 (signed out / no second factor) stops. */
(function () {
  "use strict";

  var PATH = "/ws/teleconsult/live/";
  var state = { ready: false, events: 0, refreshes: 0, socket: null };
  var delay = 1000;
  var pending = null;
  window.ihospitalTcLive = state;

  function indicate(name) {
    var marks = document.querySelectorAll("[data-tc-live-state]");
    for (var i = 0; i < marks.length; i++) {
      marks[i].setAttribute("data-state", name);
      var text = marks[i].getAttribute("data-" + name);
      if (text) marks[i].textContent = text;
    }
  }

  function busy(element) {
    var active = document.activeElement;
    if (!active || !element.contains(active)) return false;
    if (!/^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return false;
    return active.type !== "submit" && active.type !== "button" && active.type !== "hidden";
  }

  function wanted(element, frame) {
    if (!frame || frame.reconnected) return true;
    var id = element.getAttribute("data-tc-id");
    return !id || String(frame.id) === id;
  }

  function refresh(frame) {
    var targets = [];
    var marked = document.querySelectorAll("[data-tc-refresh][id]");
    for (var i = 0; i < marked.length; i++) {
      if (wanted(marked[i], frame) && !busy(marked[i])) targets.push(marked[i].id);
    }
    if (!targets.length) return;
    window.fetch(window.location.href, { credentials: "same-origin", headers: { "X-Tc-Live": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        targets.forEach(function (id) {
          var old = document.getElementById(id);
          var replacement = fresh.getElementById(id);
          if (old && replacement && !busy(old)) {
            old.replaceWith(document.importNode(replacement, true));
            state.refreshes += 1;
          }
        });
        indicate(state.ready ? "open" : "closed");
        document.dispatchEvent(new CustomEvent("teleconsult:refreshed", { detail: frame }));
      })
      .catch(function () { /* the next event or reconnect tries again */ });
  }

  function schedule(frame) {
    // Several events in a burst (assign + notify) make one re-read.
    if (pending) window.clearTimeout(pending);
    pending = window.setTimeout(function () { pending = null; refresh(frame); }, 200);
  }

  function connect(reconnecting) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + PATH);
    var pinger = null;
    state.socket = socket;
    indicate(reconnecting ? "closed" : "connecting");
    socket.addEventListener("open", function () {
      delay = 1000;
      pinger = window.setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    });
    socket.addEventListener("message", function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (!frame || typeof frame !== "object") return;
      if (frame.type === "hello") {
        state.ready = true;
        indicate("open");
        if (reconnecting) schedule({ type: "changed", id: null, reconnected: true });
      } else if (frame.type === "changed") {
        state.events += 1;
        document.dispatchEvent(new CustomEvent("teleconsult:changed", { detail: frame }));
        schedule(frame);
      }
    });
    socket.addEventListener("close", function (event) {
      if (pinger) window.clearInterval(pinger);
      state.ready = false;
      if (event.code === 4401) { indicate("refused"); return; }
      indicate("closed");
      window.setTimeout(function () { connect(true); }, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }

  function start() {
    if (!("WebSocket" in window) || !window.fetch || !window.DOMParser) return;
    connect(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
