/* Home nursing's live socket client (ws/homecare/live/), shared by the patient's, the nurses', the dispatchers'
   and the security console's pages.

   USE: <script src="{% static 'homecare/live.js' %}" defer></script> on a page of a signed-in user. It connects
   once per page, by itself, when the DOM is ready. Nothing else is required.

   SERVER → PAGE. The socket joins the groups of what the user may see (homecare/consumers.py) and this script
   turns each frame into a DOM event dispatched on `document` (a CustomEvent; the frame is `event.detail`):

     homecare:changed  detail = {"type": "changed", "what": "request", "id": 12, "status": "en_route"}
                       Something the page may show changed. No health data: re-read it over HTTP through the page's
                       own (scoped) view. After a reconnect it is dispatched once with
                       detail = {"type": "changed", "what": "*", "id": null, "status": null, "reconnected": true}
                       because events sent while the socket was away are not replayed: refresh everything.
     homecare:alarm    detail = {"type": "alarm", "id", "kind" ("panic"|"overrun"), "kind_label", "status"
                       ("raised"|"acknowledged"|"resolved"), "raised_at" ("HH:MM:SS"), "nurse", "nurse_phone",
                       "latitude", "longitude", "accuracy_m", "visit" (request number), "address",
                       "visit_latitude", "visit_longitude", "patient", "contact_phone", "service", "repeats"}
                       Only security, admin and dispatchers ever receive these (the server never forwards an alarm
                       to a patient or a nurse). Sent again on every repeat, acknowledgement and resolution.
     homecare:state    detail = {"state": "connecting"|"open"|"closed"|"refused"}

   DECLARATIVE REFRESH (htmx): every element with `data-hc-refresh` receives the htmx event `hc-changed` on each
   homecare:changed (so write hx-get="...?part=list" hx-trigger="hc-changed delay:300ms"). Optional filters on
   the element: data-hc-what="request,visit" (a comma-separated list of "what"s) and data-hc-id="12". An element
   the user is typing in is skipped (their input is not thrown away). A reconnect refreshes them all.

   STATE MARKS: every element with `data-hc-live-state` gets data-state="connecting|open|closed|refused" and, if
   the page has <script type="application/json" id="hc-live-strings">{"open": "...", "closed": "...",
   "connecting": "...", "refused": "..."}</script>, the matching text.

   window.ihospitalHcLive = {ready, events, alarms, refreshes, socket}: read by the browser tests.

   RECONNECTS with backoff: 1 s, doubling to 30 s; a ping every 25 s keeps proxies from closing an idle socket.
   Close code 4401 (signed out, or staff without the second factor) stops retrying: a reload leads to sign-in.
   Without JavaScript or WebSocket the page shows what it was rendered with. */
(function () {
  "use strict";

  var PATH = "/ws/homecare/live/";
  var MAX_DELAY = 30000;
  var strings = {};
  var state = { ready: false, events: 0, alarms: 0, refreshes: 0, socket: null };
  var delay = 1000;
  window.ihospitalHcLive = state;

  function emit(name, detail) {
    var event;
    try {
      event = new CustomEvent(name, { detail: detail });
    } catch (e) { // very old WebViews
      event = document.createEvent("CustomEvent");
      event.initCustomEvent(name, false, false, detail);
    }
    document.dispatchEvent(event);
  }

  function indicate(name) {
    var marks = document.querySelectorAll("[data-hc-live-state]");
    for (var i = 0; i < marks.length; i++) {
      marks[i].setAttribute("data-state", name);
      if (strings[name]) marks[i].textContent = strings[name];
    }
    emit("homecare:state", { state: name });
  }

  function wanted(element, frame) {
    if (!frame || frame.reconnected) return true;
    var what = element.getAttribute("data-hc-what");
    if (what && what.split(",").indexOf(String(frame.what)) === -1) return false;
    var id = element.getAttribute("data-hc-id");
    return !id || String(frame.id) === id;
  }

  function busy(element) {
    var active = document.activeElement;
    return active && element.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) &&
      active.type !== "submit" && active.type !== "button";
  }

  function refresh(frame) {
    if (!window.htmx) return;
    var targets = document.querySelectorAll("[data-hc-refresh]");
    for (var i = 0; i < targets.length; i++) {
      if (wanted(targets[i], frame) && !busy(targets[i])) {
        state.refreshes += 1;
        window.htmx.trigger(targets[i], "hc-changed");
      }
    }
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
        if (reconnecting) {
          var all = { type: "changed", what: "*", id: null, status: null, reconnected: true };
          emit("homecare:changed", all);
          refresh(all);
        }
      } else if (frame.type === "changed") {
        state.events += 1;
        emit("homecare:changed", frame);
        refresh(frame);
      } else if (frame.type === "alarm") {
        state.alarms += 1;
        emit("homecare:alarm", frame);
      }
    });
    socket.addEventListener("close", function (event) {
      if (pinger) window.clearInterval(pinger);
      state.ready = false;
      if (event.code === 4401) {
        indicate("refused");
        return;
      }
      indicate("closed");
      window.setTimeout(function () { connect(true); }, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    });
  }

  function start() {
    if (!("WebSocket" in window)) return;
    var source = document.getElementById("hc-live-strings");
    if (source) {
      try { strings = JSON.parse(source.textContent) || {}; } catch (e) { strings = {}; }
    }
    connect(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
