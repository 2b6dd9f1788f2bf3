/* The bell in the header (notifications/_bell.html) follows the user's notifications live over ws/notifications/.

   SERVER → PAGE: {"type": "notification", "id", "kind", "title", "link", "unread"} when a notification arrives (the
   badge shows "unread", a short toast shows the title for a few seconds and links to the list);
   {"type": "read", "unread"} when another page marked notifications read. Each frame is also dispatched on
   `document` as the CustomEvent "notifications:frame" (detail = the frame); a page marked [data-notify-reload] (the
   list) reloads on a new notification or after a reconnect.

   window.ihospitalNotify = {ready, events, unread, socket}: read by the browser tests.

   RECONNECTS with backoff (1 s doubling to 30 s), a ping every 25 s; after a reconnect the count is re-read over
   HTTP (/notifications/count/) because frames sent while away are not replayed. Close code 4401 stops retrying.
   Without JavaScript the bell shows the count the page was rendered with. */
(function () {
  "use strict";

  var PATH = "/ws/notifications/";
  var MAX_DELAY = 30000;
  var state = { ready: false, events: 0, unread: null, socket: null };
  var delay = 1000;
  var strings = {};
  var toastTimer = null;
  window.ihospitalNotify = state;

  function bell() { return document.querySelector("[data-testid=bell]"); }

  function show(unread) {
    var link = bell();
    if (!link || typeof unread !== "number") return;
    state.unread = unread;
    var max = parseInt(link.getAttribute("data-max"), 10) || 99;
    link.setAttribute("data-unread", String(unread));
    var badge = link.querySelector(".notify-bell-count");
    var number = link.querySelector("[data-bell-number]");
    var words = link.querySelector("[data-bell-words]");
    if (number) number.textContent = unread > max ? max + "+" : String(unread);
    if (words && strings.unread) words.textContent = strings.unread.replace("%(count)s", String(unread));
    if (badge) badge.hidden = unread === 0;
  }

  function toast(frame) {
    var box = document.querySelector("[data-testid=notify-toast]");
    if (!box || !frame.title) return;
    box.textContent = "";
    var a = document.createElement("a");
    a.href = (bell() && bell().getAttribute("href")) || "/notifications/";
    a.textContent = frame.title;
    box.appendChild(a);
    box.hidden = false;
    if (toastTimer) clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  function reloadList(frame) {
    // The notifications list reloads on a new one (or after a reconnect) unless the user is pressing a button.
    if (document.querySelector("[data-notify-reload]") && (frame.type === "notification" || frame.type === "reconnected")) {
      window.location.reload();
    }
  }

  function emit(frame) {
    var event;
    try {
      event = new CustomEvent("notifications:frame", { detail: frame });
    } catch (e) {
      event = document.createEvent("CustomEvent");
      event.initCustomEvent("notifications:frame", false, false, frame);
    }
    document.dispatchEvent(event);
    reloadList(frame);
  }

  function recount() {
    if (!window.fetch) return;
    fetch("/notifications/count/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) show(data.unread); })
      .catch(function () {});
  }

  function connect(reconnecting) {
    if (!window.WebSocket) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + PATH);
    var ping = null;
    state.socket = socket;
    socket.onopen = function () {
      delay = 1000;
      ping = setInterval(function () {
        if (socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    };
    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "hello") {
        state.ready = true;
        if (reconnecting) { recount(); emit({ type: "reconnected" }); }
        return;
      }
      if (frame.type === "notification") {
        state.events += 1;
        show(frame.unread);
        toast(frame);
        emit(frame);
      } else if (frame.type === "read") {
        show(frame.unread);
        emit(frame);
      }
    };
    socket.onclose = function (event) {
      state.ready = false;
      if (ping) clearInterval(ping);
      if (event.code === 4401) return;
      setTimeout(function () { connect(true); }, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }

  function start() {
    var link = bell();
    if (!link) return;
    var el = document.getElementById("notify-strings");
    if (el) { try { strings = JSON.parse(el.textContent); } catch (e) { strings = {}; } }
    state.unread = parseInt(link.getAttribute("data-unread"), 10) || 0;
    connect(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
