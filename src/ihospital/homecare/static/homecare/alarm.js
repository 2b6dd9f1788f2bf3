/* The nurse's one-touch alarm (SOS · 紧急求助), on every nurse page.

   It must work when the page sat idle for hours: the session may be gone and the socket closed. So it never uses
   either. The page carries an alarm token (safety.alarm_token, valid 36 h) and the alarm is a plain POST of the
   token to /homecare/alarm/ with credentials: "omit" (no cookies: an expired session would otherwise be redirected
   to the sign-in page and the alarm lost) and keepalive: true (it still leaves if the page is being closed).

   PRESS AND HOLD (about 0.6 s), not a cancel window. Why: a phone in a pocket or a hand brushes the screen with
   short touches; holding for 0.6 s is deliberate yet still one gesture that a frightened nurse can make without
   looking or reading. A 3-second cancel window would delay every real alarm by 3 s and ask for a second, precise
   touch to undo a false one, while the guard here costs 0.6 s and nothing to undo. The button fills red while held;
   letting go early does nothing. Keyboards: hold Enter or Space.

   After the hold: the position is asked for with a short timeout (3 s); the alarm is sent with it, or without it
   if none came, and sent again with the position when it arrives later (the server merges presses within 2 min).
   No answer from the server (no network, server down): retried every 3 s until answered, with the security phone
   shown as a tel: link meanwhile. On success: "Security alerted — help is coming", then /homecare/alarm/status/ is
   polled every 5 s (token-authenticated too) until someone acknowledges it: "Acknowledged by <name>".
   A refused token (403 invalid_alarm_token, e.g. a page older than 36 h): its message and the phone number.

   window.ihospitalAlarm = {phase, id, sends, located} is read by the browser tests. */
(function () {
  "use strict";

  var HOLD_MS = 600;
  var GEO_FIRST_MS = 3000;
  var GEO_LATE_MS = 30000;
  var RETRY_MS = 3000;
  var POLL_MS = 5000;

  var config = null;
  var ui = {};
  var state = { phase: "idle", id: null, sends: 0, located: false };
  var pending = null;     // the next body to send (the newest wins: a located one replaces one without)
  var inFlight = false;
  var retryTimer = null;
  var pollTimer = null;
  var holdTimer = null;
  window.ihospitalAlarm = state;

  function text(name, values) {
    var s = (config.strings && config.strings[name]) || "";
    if (values) {
      Object.keys(values).forEach(function (key) { s = s.replace("%(" + key + ")s", values[key]); });
    }
    return s;
  }

  function show(phase, message, ack) {
    state.phase = phase;
    ui.status.hidden = false;
    ui.status.setAttribute("data-phase", phase);
    if (message !== undefined) ui.message.textContent = message;
    if (ack !== undefined) ui.ack.textContent = ack;
  }

  // ---- sending ----------------------------------------------------------------------------------------------

  function body(position) {
    var data = new URLSearchParams();
    data.set("token", config.token);
    if (config.visit) data.set("visit", String(config.visit));
    if (position && position.coords) {
      data.set("latitude", String(position.coords.latitude));
      data.set("longitude", String(position.coords.longitude));
      data.set("accuracy", String(Math.round(position.coords.accuracy || 0)));
    }
    return data;
  }

  function queue(position) {
    if (position) state.located = true;
    // Never replace a located body by one without a location.
    if (!pending || position || !pending.has("latitude")) pending = body(position);
    pump();
  }

  function pump() {
    if (inFlight || !pending) return;
    if (retryTimer) { window.clearTimeout(retryTimer); retryTimer = null; }
    var sending = pending;
    inFlight = true;
    state.sends += 1;
    fetch(config.url, {
      method: "POST", body: sending, keepalive: true, credentials: "omit", cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().then(
        function (data) { return { status: response.status, data: data }; },
        function () { return { status: response.status, data: null }; }
      );
    }).then(function (result) {
      inFlight = false;
      if (result.status === 201 || result.status === 200) {
        if (pending === sending) pending = null;
        state.id = result.data && result.data.alarm ? result.data.alarm.id : state.id;
        ui.button.classList.remove("fired");  // ready to be held again (a second press updates the same alarm)
        if (state.phase !== "acknowledged" && state.phase !== "resolved") {
          show("sent", (result.data && result.data.message) || text("sent"),
               sending.has("latitude") ? text("located") : text("no_location"));
        }
        poll();
        pump();  // a located body queued meanwhile
      } else if (result.status >= 400 && result.status < 500 && result.status !== 408 && result.status !== 429) {
        // The token was refused: retrying cannot help. Say so, and give the number to call.
        pending = null;
        var message = result.data && result.data.error ? result.data.error.message : text("expired");
        show("refused", message, "");
      } else {
        retry();
      }
    }, function () {
      inFlight = false;
      retry();
    });
  }

  function retry() {
    show("retrying", text("retrying"), "");
    if (!retryTimer) retryTimer = window.setTimeout(function () { retryTimer = null; pump(); }, RETRY_MS);
  }

  // ---- where the nurse is -----------------------------------------------------------------------------------

  function fire() {
    ui.button.classList.add("fired");
    show("sending", text("sending"), "");
    if (!("geolocation" in navigator)) {
      queue(null);
      return;
    }
    var first = true;
    var timer = window.setTimeout(function () {
      if (!first) return;
      first = false;
      queue(null);  // no position within 3 s: send now, the position follows
      navigator.geolocation.getCurrentPosition(function (position) { queue(position); }, function () {},
        { enableHighAccuracy: true, timeout: GEO_LATE_MS, maximumAge: 0 });
    }, GEO_FIRST_MS);
    navigator.geolocation.getCurrentPosition(function (position) {
      if (first) {
        first = false;
        window.clearTimeout(timer);
      }
      queue(position);
    }, function () {
      if (first) {
        first = false;
        window.clearTimeout(timer);
        queue(null);
      }
    }, { enableHighAccuracy: true, timeout: GEO_FIRST_MS, maximumAge: 60000 });
  }

  // ---- has someone got it? -----------------------------------------------------------------------------------

  function poll() {
    if (pollTimer || !state.id) return;
    function check() {
      var url = config.status_url + "?" + new URLSearchParams({ token: config.token, id: String(state.id) });
      fetch(url, { credentials: "omit", cache: "no-store", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data || String(data.id) !== String(state.id)) return;
          var by = data.acknowledged_by ? text("acknowledged", { name: data.acknowledged_by }) : "";
          if (data.status === "acknowledged") {
            show("acknowledged", text("sent"), by);
          } else if (data.status === "resolved") {
            show("resolved", text("resolved"), by);
            window.clearInterval(pollTimer);
            pollTimer = null;
          }
        }, function () {});
    }
    pollTimer = window.setInterval(check, POLL_MS);
    check();
  }

  // ---- press and hold ---------------------------------------------------------------------------------------

  function startHold(event) {
    if (holdTimer) return;
    if (event && event.type === "keydown") {
      if (event.repeat || (event.key !== "Enter" && event.key !== " ")) return;
      event.preventDefault();
    }
    ui.button.classList.add("holding");
    holdTimer = window.setTimeout(function () {
      holdTimer = null;
      ui.button.classList.remove("holding");
      if (navigator.vibrate) navigator.vibrate(200);
      fire();
    }, HOLD_MS);
  }

  function endHold(event) {
    if (event && event.type === "keyup" && event.key !== "Enter" && event.key !== " ") return;
    if (holdTimer) {
      window.clearTimeout(holdTimer);
      holdTimer = null;
    }
    ui.button.classList.remove("holding");
  }

  function start() {
    var source = document.getElementById("sos-config");
    var root = document.querySelector("[data-sos]");
    if (!source || !root) return;
    try { config = JSON.parse(source.textContent); } catch (e) { return; }
    ui = {
      root: root, button: root.querySelector("[data-sos-button]"), form: root.querySelector("[data-sos-form]"),
      status: root.querySelector("[data-sos-status]"), message: root.querySelector("[data-sos-message]"),
      ack: root.querySelector("[data-sos-ack]"), hint: root.querySelector("[data-sos-hint]")
    };
    if (!window.fetch || !window.URLSearchParams) return;  // the plain form stays: one press posts it
    // With JavaScript the hold decides, never a click: a tap sends nothing.
    ui.form.addEventListener("submit", function (event) { event.preventDefault(); });
    ui.button.addEventListener("click", function (event) { event.preventDefault(); });
    ui.button.addEventListener("contextmenu", function (event) { event.preventDefault(); });
    ui.button.addEventListener("pointerdown", function (event) {
      if (event.button !== undefined && event.button > 0) return;
      startHold(event);
    });
    ["pointerup", "pointerleave", "pointercancel"].forEach(function (name) {
      ui.button.addEventListener(name, endHold);
    });
    ui.button.addEventListener("keydown", startHold);
    ui.button.addEventListener("keyup", endHold);
    ui.button.addEventListener("blur", endHold);
    ui.button.setAttribute("data-ready", "1");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
