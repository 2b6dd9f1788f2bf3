/* The security console, live. live.js dispatches "homecare:alarm" for every alarm frame of ws/homecare/live/
   (raised, repeated, acknowledged, resolved). This script:

   - draws a new alarm's card at once from the frame (the <template id="alarm-card-template">, the same fields as
     the server's card, and the same mini map), then asks htmx to read the list again (the server's card, whose
     read is audited, replaces it);
   - updates a known card's status (acknowledged by someone else: it stops flashing) and removes a resolved one;
   - beeps (WebAudio) for a new or repeated alarm, and every 10 s while one is unacknowledged. Browsers only let a
     page make sound after a user gesture, so "Enable sound" must be pressed once.

   window.ihospitalConsole = {alarms, beeps, sound} is read by the browser tests. */
(function () {
  "use strict";

  var MAP = { w: 240, h: 140, pad: 22, minSpan: 200 };
  var SCALE_STEPS = [50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];
  var REMIND_MS = 10000;
  var SVG = "http://www.w3.org/2000/svg";

  var config = { strings: {} };
  var seen = {};
  var audio = null;
  var refreshWaiting = false;
  var state = { alarms: 0, beeps: 0, sound: false };
  window.ihospitalConsole = state;

  function list() { return document.querySelector("[data-alarms]"); }

  // ---- sound ------------------------------------------------------------------------------------------------

  function beep() {
    if (!audio) return;
    state.beeps += 1;
    var now = audio.currentTime;
    for (var i = 0; i < 3; i++) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = i % 2 ? 660 : 990;
      gain.gain.setValueAtTime(0.0001, now + i * 0.3);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.3 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.3 + 0.25);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(now + i * 0.3);
      osc.stop(now + i * 0.3 + 0.26);
    }
  }

  function enableSound(button) {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
    state.sound = true;
    button.setAttribute("aria-pressed", "true");
    if (config.strings.sound_on) button.textContent = config.strings.sound_on;
    beep();
  }

  // ---- the mini map (the same numbers as views_security.minimap) ----------------------------------------------

  function minimap(a) {
    var points = {};
    if (a.latitude !== null && a.latitude !== undefined) points.n = [a.latitude, a.longitude];
    if (a.visit_latitude !== null && a.visit_latitude !== undefined) points.v = [a.visit_latitude, a.visit_longitude];
    var keys = Object.keys(points);
    if (!keys.length) return null;
    var lat0 = 0, lng0 = 0;
    keys.forEach(function (k) { lat0 += points[k][0] / keys.length; lng0 += points[k][1] / keys.length; });
    var kx = 111320 * Math.cos(lat0 * Math.PI / 180), ky = 110540;
    var local = {}, spanX = 0, spanY = 0;
    keys.forEach(function (k) {
      local[k] = [(points[k][1] - lng0) * kx, (points[k][0] - lat0) * ky];
      spanX = Math.max(spanX, Math.abs(local[k][0]) * 2);
      spanY = Math.max(spanY, Math.abs(local[k][1]) * 2);
    });
    var scale = Math.min((MAP.w - 2 * MAP.pad) / Math.max(spanX, MAP.minSpan),
                         (MAP.h - 2 * MAP.pad) / Math.max(spanY, MAP.minSpan));
    var bar = SCALE_STEPS[0];
    SCALE_STEPS.forEach(function (s) { if (s * scale <= MAP.w / 3) bar = s; });
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "hc-map");
    svg.setAttribute("viewBox", "0 0 " + MAP.w + " " + MAP.h);
    svg.setAttribute("role", "img");
    svg.setAttribute("data-testid", "minimap");
    function el(name, attrs, content) {
      var node = document.createElementNS(SVG, name);
      Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
      if (content) node.textContent = content;
      svg.appendChild(node);
      return node;
    }
    function at(k) { return [MAP.w / 2 + local[k][0] * scale, MAP.h / 2 - local[k][1] * scale]; }
    if (local.n && local.v) {
      var n = at("n"), v = at("v");
      el("line", { "class": "link", x1: n[0], y1: n[1], x2: v[0], y2: v[1] });
      var metres = Math.round(Math.sqrt(Math.pow(local.n[0] - local.v[0], 2) + Math.pow(local.n[1] - local.v[1], 2)));
      el("text", { x: MAP.w - 8, y: 14, "text-anchor": "end" }, metres + " m");
    }
    if (local.v) { var pv = at("v"); el("rect", { "class": "v", x: pv[0] - 6, y: pv[1] - 6, width: 12, height: 12 }); }
    if (local.n) { var pn = at("n"); el("circle", { "class": "n", cx: pn[0], cy: pn[1], r: 7 }); }
    el("line", { "class": "bar", x1: 8, y1: MAP.h - 10, x2: 8 + bar * scale, y2: MAP.h - 10 });
    el("text", { x: 8, y: MAP.h - 14 }, bar >= 1000 ? (bar / 1000) + " km" : bar + " m");
    return svg;
  }

  // ---- cards ------------------------------------------------------------------------------------------------

  function statusLabel(status) { return (config.strings.statuses || {})[status] || status; }

  function fillCard(card, a) {
    var values = {
      kind_icon: a.kind === "panic" ? "SOS" : "⏱", kind_label: a.kind_label, status_label: statusLabel(a.status),
      nurse: a.nurse, nurse_phone: a.nurse_phone, raised_at: a.raised_at, visit: a.visit, service: a.service,
      patient: a.patient, contact_phone: a.contact_phone, address: a.address,
      location: a.latitude !== null && a.latitude !== undefined
        ? Number(a.latitude).toFixed(5) + ", " + Number(a.longitude).toFixed(5) +
          (a.accuracy_m ? " (±" + Math.round(a.accuracy_m) + " m)" : "")
        : config.strings.no_location || ""
    };
    Array.prototype.forEach.call(card.querySelectorAll("[data-field]"), function (node) {
      var name = node.getAttribute("data-field");
      if (name === "nurse_link") {
        if (a.latitude !== null && a.latitude !== undefined) {
          node.href = "https://uri.amap.com/marker?" + new URLSearchParams({
            position: a.longitude + "," + a.latitude, name: a.nurse, coordinate: "wgs84" });
          node.hidden = false;
        }
        return;
      }
      var value = values[name] === null || values[name] === undefined ? "" : String(values[name]);
      node.textContent = value;
      if (node.hasAttribute("data-tel")) {
        if (value) node.href = "tel:" + value; else node.hidden = true;
      }
    });
    Array.prototype.forEach.call(card.querySelectorAll("[data-if]"), function (node) {
      node.hidden = !a[node.getAttribute("data-if")];
    });
    var holder = card.querySelector("[data-map-holder]");
    var map = minimap(a);
    if (holder && map) {
      holder.querySelector("dd").textContent = "";
      holder.querySelector("dd").appendChild(map);
      holder.hidden = false;
    }
    card.setAttribute("data-status", a.status);
  }

  function drawCard(a) {
    var template = document.getElementById("alarm-card-template");
    var container = document.querySelector("[data-alarm-list]");
    if (!template || !container) return;
    var card = template.content.firstElementChild.cloneNode(true);
    card.id = "alarm-" + a.id;
    card.setAttribute("data-alarm-id", a.id);
    card.setAttribute("data-testid", "alarm-" + a.id);
    fillCard(card, a);
    var form = card.querySelector("form[data-action=acknowledge]");
    if (form) {
      form.action = config.acknowledge_url.replace("/0/", "/" + a.id + "/");
      if (a.status !== "raised") form.parentNode.removeChild(form);
    }
    container.insertBefore(card, container.firstChild);
    var empty = document.querySelector("[data-no-alarms]");
    if (empty) empty.hidden = true;
  }

  function typing() {
    var box = list(), active = document.activeElement;
    return box && active && box.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function refresh() {
    // Never throw away a resolution being typed: read the list again when the guard leaves the field.
    if (typing()) {
      refreshWaiting = true;
      return;
    }
    refreshWaiting = false;
    if (window.htmx && list()) window.htmx.trigger(list(), "hc-alarms");
  }

  function remember() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-alarm-id]"), function (card) {
      var id = card.getAttribute("data-alarm-id");
      if (!seen[id]) seen[id] = { status: card.getAttribute("data-status"), repeats: card.getAttribute("data-repeats") };
    });
  }

  function onAlarm(event) {
    var a = event.detail || {};
    if (a.id === undefined) return;
    state.alarms += 1;
    var previous = seen[a.id];
    var card = document.getElementById("alarm-" + a.id);
    if (a.status === "resolved") {
      if (card) card.parentNode.removeChild(card);
    } else if (!card) {
      drawCard(a);
    } else {
      fillCard(card, a);
      if (a.status !== "raised") {
        var ack = card.querySelector("[data-testid=acknowledge]");
        if (ack && ack.form) ack.form.parentNode.removeChild(ack.form);
      }
    }
    if (a.status === "raised" && (!previous || String(previous.repeats) !== String(a.repeats))) beep();
    seen[a.id] = { status: a.status, repeats: a.repeats };
    refresh();
  }

  function start() {
    var source = document.getElementById("console-config");
    if (source) {
      try { config = JSON.parse(source.textContent) || config; } catch (e) { /* keep the defaults */ }
    }
    config.strings = config.strings || {};
    remember();
    var button = document.querySelector("[data-sound]");
    if (button) button.addEventListener("click", function () { enableSound(button); });
    document.addEventListener("homecare:alarm", onAlarm);
    document.addEventListener("homecare:changed", function (event) {
      if (event.detail && event.detail.reconnected) refresh();  // alarms sent while the socket was away
    });
    document.addEventListener("focusout", function () {
      if (refreshWaiting) window.setTimeout(refresh, 0);
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.target === list()) remember();
    });
    window.setInterval(function () {
      if (document.querySelector(".hc-alarm[data-status=raised]")) beep();
    }, REMIND_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
