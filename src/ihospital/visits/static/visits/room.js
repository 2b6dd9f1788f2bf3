/* The visit room, live: chat, typing, read receipts, queue position, status and the video call, all over the
   visit's WebSocket (protocol: visits/consumers.py). Vanilla JS, no inline script, nothing from outside.

   Delivery: the page renders the stored transcript and connects with ?after=<last id>; the server sends every
   stored message after it, then live ones. Messages are kept by id (a duplicate is dropped) and a message typed
   here carries a client_id, so a resend after a dropped connection is stored and shown once.

   Video: RTCPeerConnection with the "perfect negotiation" pattern (the doctor is the impolite peer), signalled
   over the same socket as {"type": "signal", "data": {kind, from, to, ...}}; calls are between the doctor and
   the patient's side, one window each (peers are addressed by a random id per page).

   For tests and support: window.ihospitalRoom exposes the socket, the peer connection and a few helpers. */
(function () {
  "use strict";

  var CALL_TIMEOUT_MS = 20000;
  var JOIN_REPEAT_MS = 4000;
  var PING_EVERY_MS = 25000;
  var PONG_TIMEOUT_MS = 10000;
  var MAX_BACKOFF_MS = 30000;
  var KEEPALIVE_MS = 4 * 60 * 1000;
  var ACTIVE = ["requested", "accepted", "in_progress"];
  var CALLABLE = ["accepted", "in_progress"];

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function fmt(text, params) {
    return String(text).replace(/%\((\w+)\)[sd]/g, function (_m, key) {
      return params && key in params ? String(params[key]) : "";
    });
  }

  function randomId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function noop() {}

  ready(function () {
    var root = document.getElementById("room");
    if (!root) return;
    var S = JSON.parse(document.getElementById("room-strings").textContent);

    var state = {
      visitId: Number(root.dataset.visitId),
      role: root.dataset.role,
      userId: Number(root.dataset.userId),
      doctorUserId: root.dataset.doctorUserId ? Number(root.dataset.doctorUserId) : null,
      lastId: Number(root.dataset.lastId) || 0,
      status: root.dataset.status,
      mode: root.dataset.mode,
      iceServers: [],
      marks: {},
      readSent: 0,
      helloReceived: false
    };
    var lang = root.dataset.lang || document.documentElement.lang || "zh-hans";
    var timeFormat;
    try {
      timeFormat = new Intl.DateTimeFormat(lang, {
        hour: "2-digit", minute: "2-digit", hour12: false, timeZone: root.dataset.tz || undefined
      });
    } catch (e) {
      timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
    }

    var transcript = document.getElementById("transcript");
    var emptyNote = root.querySelector("[data-testid='empty-chat']");
    var typingEl = root.querySelector("[data-testid='typing']");
    var connEl = root.querySelector("[data-testid='connection']");
    var liveError = root.querySelector("[data-testid='live-error']");
    var composer = document.getElementById("composer");
    var textarea = composer ? composer.querySelector("textarea[name='body']") : null;
    var fileInput = composer ? composer.querySelector("input[type='file']") : null;
    var attachName = composer ? composer.querySelector("[data-testid='attach-name']") : null;
    var csrfInput = composer ? composer.querySelector("input[name='csrfmiddlewaretoken']") : null;

    var byId = {};          // message id -> <li>
    var pending = {};       // client_id -> {li, body, failed}
    var outbox = [];        // client_ids waiting to be sent, in order

    Array.prototype.forEach.call(transcript.querySelectorAll("li[data-id]"), function (li) {
      byId[li.dataset.id] = li;
      state.lastId = Math.max(state.lastId, Number(li.dataset.id));
    });

    // ---- small page helpers ------------------------------------------------------------------------------

    function showError(message) {
      if (!liveError) return;
      liveError.textContent = message || "";
      liveError.hidden = !message;
    }

    function setConnection(kind, text) {
      if (!connEl) return;
      connEl.dataset.state = kind;
      connEl.textContent = text;
      connEl.hidden = false;
    }

    function nearBottom() {
      return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
    }

    function scrollToEnd() {
      transcript.scrollTop = transcript.scrollHeight;
    }

    function csrfToken() {
      if (csrfInput) return csrfInput.value;
      var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      return match ? decodeURIComponent(match[1]) : "";
    }

    // ---- messages --------------------------------------------------------------------------------------------

    function isDoctorUser(userId) {
      return state.doctorUserId !== null && userId === state.doctorUserId;
    }

    function buildMessage(m) {
      var li = document.createElement("li");
      li.setAttribute("data-testid", "message");
      if (m.id) li.dataset.id = String(m.id);
      if (m.kind === "system") {
        li.className = "msg msg-system";
      } else {
        var mine = m.sender_id === state.userId;
        li.className = "msg " + (mine ? "msg-mine" : "msg-theirs") + (isDoctorUser(m.sender_id) ? " msg-doctor" : "");
        li.dataset.clientId = m.client_id || "";
        li.dataset.senderId = String(m.sender_id || "");
        var meta = document.createElement("div");
        meta.className = "msg-meta";
        var who = document.createElement("span");
        who.className = "msg-sender";
        who.textContent = mine ? S.you : (m.sender_name || "") + (isDoctorUser(m.sender_id) ? " · " + (S.doctor || "") : "");
        meta.appendChild(who);
        meta.appendChild(document.createTextNode(" "));
        var time = document.createElement("time");
        if (m.created_at) {
          time.dateTime = m.created_at;
          time.textContent = timeFormat.format(new Date(m.created_at));
        } else {
          time.textContent = S.sending;
          time.className = "sending";
        }
        meta.appendChild(time);
        li.appendChild(meta);
      }
      var bubble = document.createElement("div");
      bubble.className = "msg-bubble";
      if (m.body) {
        var p = document.createElement("p");
        p.className = "msg-body";
        p.textContent = m.body;
        bubble.appendChild(p);
      }
      if (m.attachment) {
        var link = document.createElement("a");
        link.href = m.attachment.url;
        if (m.kind === "image") {
          link.className = "msg-image-link";
          var img = document.createElement("img");
          img.className = "msg-image";
          img.src = m.attachment.url;
          img.alt = m.attachment.name || S.attachment;
          img.loading = "lazy";
          link.appendChild(img);
        } else {
          link.className = "msg-file";
          link.textContent = m.attachment.name || S.attachment;
        }
        bubble.appendChild(link);
      }
      li.appendChild(bubble);
      if (m.kind !== "system" && m.sender_id === state.userId) {
        var receipt = document.createElement("div");
        receipt.className = "msg-receipt";
        receipt.setAttribute("data-testid", "receipt");
        receipt.textContent = S.read;
        receipt.hidden = true;
        li.appendChild(receipt);
      }
      return li;
    }

    function insertInOrder(li, id) {
      // Stored messages in id order; messages still being sent stay at the end.
      var children = transcript.children;
      for (var i = 0; i < children.length; i++) {
        var other = children[i].dataset.id;
        if (!other || Number(other) > id) {
          transcript.insertBefore(li, children[i]);
          return;
        }
      }
      transcript.appendChild(li);
    }

    function addMessage(m) {
      if (!m || !m.id || byId[m.id]) return;          // already shown: a catch-up overlapping a live message
      var stick = nearBottom() || m.sender_id === state.userId;
      var li = buildMessage(m);
      var waiting = m.client_id && m.sender_id === state.userId ? pending[m.client_id] : null;
      if (waiting) {
        // The stored message takes the place of the one shown as "sending", in id order.
        transcript.removeChild(waiting.li);
        delete pending[m.client_id];
        outbox = outbox.filter(function (cid) { return cid !== m.client_id; });
      }
      insertInOrder(li, m.id);
      byId[m.id] = li;
      state.lastId = Math.max(state.lastId, m.id);
      try { window.sessionStorage.setItem("ihospital.visit." + state.visitId + ".last", String(state.lastId)); } catch (e) { /* private mode */ }
      if (emptyNote) emptyNote.hidden = true;
      if (typingEl && typingEl.dataset.userId === String(m.sender_id)) hideTyping();
      if (stick) scrollToEnd();
      updateReceipts();
      scheduleRead();
    }

    function sendText(body) {
      var clientId = randomId();
      var li = buildMessage({ kind: "text", body: body, sender_id: state.userId, client_id: clientId });
      li.classList.add("msg-pending");
      transcript.appendChild(li);
      if (emptyNote) emptyNote.hidden = true;
      pending[clientId] = { li: li, body: body };
      outbox.push(clientId);
      scrollToEnd();
      flushOutbox();
    }

    function flushOutbox() {
      if (!socketReady()) return;
      outbox.forEach(function (clientId) {
        var item = pending[clientId];
        if (item && !item.failed) send({ type: "message", body: item.body, client_id: clientId });
      });
    }

    function failPending(message) {
      Object.keys(pending).forEach(function (clientId) {
        var item = pending[clientId];
        item.failed = true;
        item.li.classList.add("msg-failed");
        var time = item.li.querySelector("time");
        if (time) time.textContent = S.notSent;
      });
      outbox = [];
      showError(message);
    }

    function uploadFile(file, body) {
      var data = new FormData();
      data.append("file", file, file.name);
      if (body) data.append("body", body);
      var button = composer.querySelector("[type='submit']");
      if (button) button.disabled = true;
      return fetch(root.dataset.attachUrl, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (payload) {
          if (!response.ok) throw new Error((payload.error && payload.error.message) || S.uploadFailed);
          addMessage(payload);
          showError("");
        });
      }).catch(function (err) {
        showError(err && err.message ? err.message : S.uploadFailed);
        throw err;
      }).finally(function () {
        if (button) button.disabled = false;
      });
    }

    // ---- read receipts and typing -----------------------------------------------------------------------------

    function otherSideRead() {
      var best = 0;
      Object.keys(state.marks).forEach(function (uid) {
        var userId = Number(uid);
        var otherSide = state.role === "doctor" ? userId !== state.userId : isDoctorUser(userId);
        if (otherSide) best = Math.max(best, state.marks[uid]);
      });
      return best;
    }

    function updateReceipts() {
      var upTo = otherSideRead();
      Array.prototype.forEach.call(transcript.querySelectorAll("li.msg-mine[data-id]"), function (li) {
        var receipt = li.querySelector(".msg-receipt");
        if (receipt) receipt.hidden = Number(li.dataset.id) > upTo;
      });
    }

    var readTimer = null;
    function scheduleRead() {
      if (readTimer) return;
      readTimer = window.setTimeout(function () {
        readTimer = null;
        if (document.visibilityState !== "visible" || !socketReady()) return;
        if (state.lastId > state.readSent) {
          state.readSent = state.lastId;
          send({ type: "read", last_read_id: state.lastId });
        }
      }, 300);
    }
    document.addEventListener("visibilitychange", scheduleRead);

    var typingTimer = null;
    function showTyping(userId, name) {
      if (!typingEl) return;
      typingEl.textContent = fmt(S.typing, { name: name || "" });
      typingEl.dataset.userId = String(userId);
      typingEl.hidden = false;
      window.clearTimeout(typingTimer);
      typingTimer = window.setTimeout(hideTyping, 4000);
    }
    function hideTyping() {
      if (!typingEl) return;
      typingEl.hidden = true;
      typingEl.dataset.userId = "";
    }

    var lastTypingSent = 0;
    if (textarea) {
      textarea.addEventListener("input", function () {
        var now = Date.now();
        if (textarea.value.trim() && now - lastTypingSent > 2500 && socketReady()) {
          lastTypingSent = now;
          send({ type: "typing" });
        }
      });
      textarea.addEventListener("keydown", function (event) {
        // Enter sends on a keyboard; on a phone the key makes a new line and the button sends.
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing &&
            window.matchMedia && window.matchMedia("(pointer: fine)").matches) {
          event.preventDefault();
          composer.requestSubmit ? composer.requestSubmit() : composer.dispatchEvent(new Event("submit"));
        }
      });
    }
    if (fileInput && attachName) {
      fileInput.addEventListener("change", function () {
        attachName.textContent = fileInput.files.length ? fileInput.files[0].name : "";
      });
    }
    if (composer) {
      composer.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = textarea.value.trim();
        var file = fileInput && fileInput.files.length ? fileInput.files[0] : null;
        if (file) {
          uploadFile(file, body).then(function () {
            textarea.value = "";
            fileInput.value = "";
            if (attachName) attachName.textContent = "";
          }, noop);
          return;
        }
        if (!body) return;
        textarea.value = "";
        sendText(body);
        textarea.focus();
      });
    }

    // ---- status, queue and the parts of the page that follow the status -----------------------------------

    function setQueue(position, minutes) {
      var el = document.querySelector("[data-testid='queue-position']");
      if (!el) return;
      el.dataset.position = String(position);
      el.dataset.wait = String(minutes);
      el.textContent = fmt(S.queue, { position: position, minutes: minutes });
      el.hidden = false;
    }

    function sideIsDirty() {
      return !!document.querySelector("#room-side form[data-dirty='1']");
    }
    document.addEventListener("input", function (event) {
      var form = event.target.closest && event.target.closest("form[data-guard]");
      if (form) form.dataset.dirty = "1";
    });

    var refreshing = null;
    function refreshLive() {
      if (refreshing) return refreshing;
      refreshing = fetch(root.dataset.liveUrl, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var header = doc.querySelector("[data-part='room-live-header']");
          var side = doc.querySelector("[data-part='room-side']");
          var meta = doc.querySelector("[data-part='meta']");
          if (header) swapInto(document.getElementById("room-live-header"), header);
          if (side && !sideIsDirty()) swapInto(document.getElementById("room-side"), side);
          if (meta) {
            state.doctorUserId = meta.dataset.doctorUserId ? Number(meta.dataset.doctorUserId) : null;
            root.dataset.doctorUserId = meta.dataset.doctorUserId || "";
            applyStatus(meta.dataset.status);
            if (meta.dataset.chatOpen === "0") closeComposer();
          }
          updateReceipts();
        })
        .catch(noop)
        .finally(function () { refreshing = null; });
      return refreshing;
    }

    function swapInto(target, source) {
      if (!target) return;
      target.innerHTML = source.innerHTML;
      if (window.htmx && typeof window.htmx.process === "function") window.htmx.process(target);
    }

    function closeComposer() {
      if (composer) composer.hidden = true;
      var closed = root.querySelector("[data-testid='chat-closed']");
      if (closed) closed.hidden = false;
    }

    function applyStatus(status) {
      if (!status) return;
      state.status = status;
      root.dataset.status = status;
      var callable = CALLABLE.indexOf(status) >= 0;
      var openButton = root.querySelector("[data-call='open']");
      if (openButton) openButton.hidden = !callable;
      if (call) call.statusChanged(status, callable);
      if (ACTIVE.indexOf(status) < 0) {
        closeComposer();
        hideTyping();
      }
    }

    // ---- the socket ------------------------------------------------------------------------------------------

    var ws = null;
    var attempts = 0;
    var reconnectTimer = null;
    var holdUntil = 0;
    var pingTimer = null;
    var pongDeadline = null;
    var finalClose = false;

    function socketReady() {
      return !!ws && ws.readyState === WebSocket.OPEN && state.helloReceived;
    }

    function send(payload) {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify(payload));
        return true;
      }
      return false;
    }

    function connect() {
      reconnectTimer = null;
      if (finalClose) return;
      var wait = holdUntil - Date.now();
      if (wait > 0) {
        reconnectTimer = window.setTimeout(connect, wait);
        return;
      }
      setConnection("connecting", S.connecting);
      state.helloReceived = false;
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath + "?after=" + state.lastId);
      ws = socket;
      socket.onmessage = function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        handle(data);
      };
      socket.onclose = function (event) {
        if (ws !== socket) return;
        ws = null;
        state.helloReceived = false;
        window.clearInterval(pingTimer);
        window.clearTimeout(pongDeadline);
        if (event.code === 4404 || event.code === 4401) {
          finalClose = true;
          setConnection("closed", S.offline);
          // Signed out (idle timeout) or no longer allowed: the page itself will say so.
          if (event.code === 4401) window.location.reload();
          return;
        }
        scheduleReconnect();
      };
    }

    function scheduleReconnect() {
      if (reconnectTimer || finalClose) return;
      var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempts)) * (0.75 + Math.random() * 0.5);
      delay = Math.max(delay, holdUntil - Date.now());
      attempts += 1;
      setConnection("reconnecting", fmt(S.reconnecting, { s: Math.ceil(delay / 1000) }));
      reconnectTimer = window.setTimeout(connect, delay);
    }

    window.addEventListener("online", function () {
      if (!ws && reconnectTimer && Date.now() >= holdUntil) {
        window.clearTimeout(reconnectTimer);
        connect();
      }
    });

    function startHeartbeat() {
      window.clearInterval(pingTimer);
      pingTimer = window.setInterval(function () {
        if (!send({ type: "ping" })) return;
        window.clearTimeout(pongDeadline);
        pongDeadline = window.setTimeout(function () { if (ws) ws.close(); }, PONG_TIMEOUT_MS);
      }, PING_EVERY_MS);
    }

    function handle(data) {
      switch (data.type) {
        case "hello":
          attempts = 0;
          state.helloReceived = true;
          state.iceServers = data.ice_servers || [];
          state.marks = {};
          Object.keys(data.read_marks || {}).forEach(function (uid) { state.marks[uid] = Number(data.read_marks[uid]); });
          setConnection("open", S.connected);
          startHeartbeat();
          if (data.status && data.status !== state.status) refreshLive();
          updateReceipts();
          flushOutbox();
          scheduleRead();
          if (call) call.socketOpened();
          break;
        case "message":
          addMessage(data.message);
          break;
        case "typing":
          if (data.user_id !== state.userId) showTyping(data.user_id, data.name);
          break;
        case "read":
          state.marks[String(data.user_id)] = Math.max(state.marks[String(data.user_id)] || 0, Number(data.last_read_id));
          updateReceipts();
          break;
        case "status":
          if (data.status !== state.status) {
            applyStatus(data.status);
            refreshLive();
          }
          break;
        case "queue":
          setQueue(data.position, data.wait_minutes);
          break;
        case "signal":
          if (call) call.onSignal(data.from, data.data);
          break;
        case "error":
          if (["visit_closed", "empty_message", "message_too_long", "not_found"].indexOf(data.code) >= 0) {
            failPending(data.message);
          } else {
            showError(data.message);
          }
          break;
        case "pong":
          window.clearTimeout(pongDeadline);
          break;
        default:
          break;
      }
    }

    // ---- ICD-10 codes picked for the note are added, not replaced ------------------------------------------

    document.addEventListener("click", function (event) {
      var pick = event.target.closest && event.target.closest("[data-icd-code]");
      var box = pick && pick.closest("[data-icd-append]");
      if (!box) return;
      event.stopPropagation();  // site.js would put the code into the single-code field
      var input = document.getElementById(box.getAttribute("data-icd-append"));
      if (!input) return;
      var codes = input.value.split(/[\s,;，；、]+/).filter(Boolean);
      var code = pick.getAttribute("data-icd-code");
      if (codes.indexOf(code) < 0) codes.push(code);
      input.value = codes.join(" ");
      var form = input.closest("form");
      if (form && form.hasAttribute("data-guard")) form.dataset.dirty = "1";
      input.focus();
    }, true);

    // ---- the video call -----------------------------------------------------------------------------------

    var call = (function () {
      var section = document.getElementById("call");
      if (!section || typeof window.RTCPeerConnection !== "function") return null;
      var remoteVideo = section.querySelector("[data-testid='remote-video']");
      var localVideo = section.querySelector("[data-testid='local-video']");
      var meter = section.querySelector("[data-testid='mic-level']");
      var statusEl = section.querySelector("[data-testid='call-status']");
      var btnCheck = section.querySelector("[data-call='check']");
      var btnJoin = section.querySelector("[data-call='join']");
      var btnHangup = section.querySelector("[data-call='hangup']");
      var fallback = root.querySelector("[data-testid='call-fallback']");

      var peerId = randomId();
      var polite = state.role !== "doctor";   // the doctor is the impolite peer: their offer wins a glare
      var localStream = null;
      var pc = null;
      var joined = false;
      var paired = null;
      var makingOffer = false;
      var ignoreOffer = false;
      var connectTimer = null;
      var joinTimer = null;
      var audioCtx = null;
      var meterFrame = null;
      var chain = Promise.resolve();

      function setState(name, key, params) {
        section.dataset.state = name;
        if (key) statusEl.textContent = fmt(S[key], params);
        var inCall = ["waiting", "connecting", "connected"].indexOf(name) >= 0;
        btnHangup.hidden = !inCall;
        btnJoin.hidden = inCall;
        btnCheck.hidden = inCall || name === "ready";
        btnCheck.disabled = btnJoin.disabled = name === "checking";
      }

      function show() {
        section.hidden = false;
      }

      function mediaErrorKey(err) {
        var name = err && err.name;
        if (name === "InsecureContext") return "callInsecure";
        if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "callDenied";
        if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return "callNoDevice";
        return "callFailed";
      }

      function getMedia() {
        if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
          return Promise.reject({ name: "InsecureContext" });
        }
        return navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: true
        }).catch(function (err) {
          if (err && (err.name === "NotFoundError" || err.name === "OverconstrainedError" || err.name === "NotReadableError")) {
            // No usable camera: a call with sound only is still better than none.
            return navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
              statusEl.textContent = S.callAudioOnly;
              return stream;
            });
          }
          throw err;
        });
      }

      function ensureMedia() {
        if (localStream) return Promise.resolve(localStream);
        return getMedia().then(function (stream) {
          localStream = stream;
          localVideo.srcObject = stream;
          localVideo.play().catch(noop);
          startMeter(stream);
          return stream;
        });
      }

      function startMeter(stream) {
        var Ctx = window.AudioContext || window.webkitAudioContext;
        if (!Ctx || !meter || !stream.getAudioTracks().length) return;
        try {
          audioCtx = new Ctx();
          var analyser = audioCtx.createAnalyser();
          analyser.fftSize = 512;
          audioCtx.createMediaStreamSource(stream).connect(analyser);
          var samples = new Uint8Array(analyser.fftSize);
          var tick = function () {
            analyser.getByteTimeDomainData(samples);
            var sum = 0;
            for (var i = 0; i < samples.length; i++) {
              var v = (samples[i] - 128) / 128;
              sum += v * v;
            }
            meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
            meterFrame = window.requestAnimationFrame(tick);
          };
          if (audioCtx.state === "suspended") audioCtx.resume().catch(noop);
          tick();
        } catch (e) {
          audioCtx = null;
        }
      }

      function stopMedia() {
        if (meterFrame) window.cancelAnimationFrame(meterFrame);
        meterFrame = null;
        if (audioCtx) audioCtx.close().catch(noop);
        audioCtx = null;
        if (meter) meter.value = 0;
        if (localStream) localStream.getTracks().forEach(function (track) { track.stop(); });
        localStream = null;
        localVideo.srcObject = null;
      }

      function signal(data) {
        data.from = peerId;
        return send({ type: "signal", data: data });
      }

      function check() {
        show();
        setState("checking", "callChecking");
        return ensureMedia().then(function () {
          setState("ready", "callReady");
        }, function (err) {
          fail(mediaErrorKey(err), false);
        });
      }

      function join() {
        if (joined) return Promise.resolve();
        show();
        setState("checking", "callChecking");
        return ensureMedia().then(function () {
          joined = true;
          createPeer();
          setState("waiting", "callWaiting");
          signal({ kind: "join" });
          // Repeated while nobody answers, so a page opened later still sees the call.
          joinTimer = window.setInterval(function () {
            if (joined && !paired) signal({ kind: "join" });
          }, JOIN_REPEAT_MS);
        }, function (err) {
          fail(mediaErrorKey(err), false);
        });
      }

      function createPeer() {
        pc = new RTCPeerConnection({ iceServers: state.iceServers || [] });
        api.pc = pc;
        localStream.getTracks().forEach(function (track) { pc.addTrack(track, localStream); });
        pc.ontrack = function (event) {
          var stream = event.streams && event.streams[0] ? event.streams[0] : new MediaStream([event.track]);
          if (remoteVideo.srcObject !== stream) {
            remoteVideo.srcObject = stream;
            remoteVideo.play().catch(noop);
          }
        };
        pc.onnegotiationneeded = function () {
          if (paired) makeOffer();
        };
        pc.onicecandidate = function (event) {
          if (paired && event.candidate) signal({ kind: "candidate", to: paired, candidate: event.candidate.toJSON() });
        };
        pc.onconnectionstatechange = function () {
          if (!pc) return;
          if (pc.connectionState === "connected") {
            window.clearTimeout(connectTimer);
            setState("connected", "callConnected");
          } else if (pc.connectionState === "failed") {
            fail("callFailed", true);
          }
        };
        pc.oniceconnectionstatechange = function () {
          if (pc && pc.iceConnectionState === "failed") fail("callFailed", true);
        };
      }

      function makeOffer() {
        if (!pc) return Promise.resolve();
        makingOffer = true;
        return pc.setLocalDescription().then(function () {
          signal({ kind: "description", to: paired, description: pc.localDescription.toJSON() });
        }).catch(function (err) {
          if (window.console) console.warn("offer failed", err);
        }).finally(function () {
          makingOffer = false;
        });
      }

      function pairWith(remote) {
        paired = remote;
        window.clearInterval(joinTimer);
        setState("connecting", "callConnecting");
        window.clearTimeout(connectTimer);
        connectTimer = window.setTimeout(function () {
          if (pc && pc.connectionState !== "connected") fail("callTimeout", true);
        }, CALL_TIMEOUT_MS);
        // Both sides offer once paired; a glare is settled by the politeness rule.
        return makeOffer();
      }

      function endCall(key, notifyPeer) {
        if (notifyPeer && joined) signal(paired ? { kind: "hangup", to: paired } : { kind: "hangup" });
        window.clearTimeout(connectTimer);
        window.clearInterval(joinTimer);
        if (pc) {
          pc.ontrack = pc.onicecandidate = pc.onnegotiationneeded = null;
          pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
          pc.close();
        }
        pc = null;
        api.pc = null;
        paired = null;
        joined = false;
        makingOffer = false;
        ignoreOffer = false;
        stopMedia();
        remoteVideo.srcObject = null;
        setState("ended", key);
      }

      function fail(key, notifyPeer) {
        endCall(key, notifyPeer);
        section.dataset.state = "failed";
        if (fallback) {
          fallback.textContent = S[key];
          fallback.hidden = false;
        }
        if (textarea) textarea.focus({ preventScroll: true });
      }

      function handleSignal(from, d) {
        switch (d.kind) {
          case "join":
            if (!joined) {
              if (CALLABLE.indexOf(state.status) >= 0 && section.dataset.state !== "checking") {
                show();
                setState("incoming", state.role === "doctor" ? "callIncomingPatient" : "callIncoming");
              }
              return null;
            }
            if (paired && paired !== d.from) {
              if (pc && pc.connectionState === "connected") {
                signal({ kind: "busy", to: d.from });
                return null;
              }
              // The other side came back in a new page (reload): start again with it.
              resetPeer();
            }
            if (paired === d.from) return null;
            signal({ kind: "here", to: d.from });
            return pairWith(d.from);
          case "here":
            if (!joined || paired) return null;
            return pairWith(d.from);
          case "description":
            if (!joined || !pc || d.from !== paired) return null;
            var description = d.description;
            var collision = description.type === "offer" && (makingOffer || pc.signalingState !== "stable");
            ignoreOffer = !polite && collision;
            if (ignoreOffer) return null;
            return pc.setRemoteDescription(description).then(function () {
              if (description.type !== "offer") return null;
              return pc.setLocalDescription().then(function () {
                signal({ kind: "description", to: paired, description: pc.localDescription.toJSON() });
              });
            });
          case "candidate":
            if (!joined || !pc || d.from !== paired) return null;
            return pc.addIceCandidate(d.candidate).catch(function (err) {
              if (!ignoreOffer && window.console) console.warn("candidate refused", err);
            });
          case "hangup":
            if (joined && d.from === paired) {
              endCall("callRemoteEnded", false);
            } else if (!joined && section.dataset.state === "incoming") {
              setState("idle", "callRemoteEnded");
            }
            return null;
          case "busy":
            if (joined && !paired) {
              window.clearInterval(joinTimer);
              endCall("callBusy", false);
            }
            return null;
          default:
            return null;
        }
      }

      function resetPeer() {
        if (pc) {
          pc.ontrack = pc.onicecandidate = pc.onnegotiationneeded = null;
          pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
          pc.close();
        }
        paired = null;
        makingOffer = false;
        ignoreOffer = false;
        remoteVideo.srcObject = null;
        createPeer();
      }

      function onSignal(fromRole, data) {
        if (!data || typeof data !== "object" || data.from === peerId) return;
        // Calls are between the doctor and the patient's side, never within one side.
        if ((fromRole === "doctor") === (state.role === "doctor")) return;
        if (data.to && data.to !== peerId) return;
        chain = chain.then(function () { return handleSignal(fromRole, data); }).catch(function (err) {
          if (window.console) console.warn("signal", err);
        });
      }

      section.addEventListener("click", function (event) {
        var button = event.target.closest("[data-call]");
        if (!button) return;
        var action = button.getAttribute("data-call");
        if (action === "check") check();
        else if (action === "join") join();
        else if (action === "hangup") endCall("callEnded", true);
      });
      root.addEventListener("click", function (event) {
        var open = event.target.closest("[data-call='open']");
        if (!open) return;
        show();
        section.scrollIntoView({ behavior: "smooth", block: "start" });
      });
      window.addEventListener("pagehide", function () {
        if (joined) signal(paired ? { kind: "hangup", to: paired } : { kind: "hangup" });
      });

      return {
        onSignal: onSignal,
        socketOpened: function () {
          if (joined && !paired) signal({ kind: "join" });
        },
        statusChanged: function (status, callable) {
          if (!callable) {
            if (joined) endCall("callEnded", true);
            if (section.dataset.state === "incoming") setState("idle", "callIdle");
            section.hidden = true;
          } else if (state.mode === "video") {
            show();
          }
        },
        get pc() { return pc; },
        get state() { return section.dataset.state; },
        join: join,
        hangup: function () { endCall("callEnded", true); }
      };
    })();

    // ---- the session stays alive while someone is actually using the room -----------------------------------
    // The idle timeout counts page requests; a long chat or call makes none. While there is input (or a call),
    // a quiet request every few minutes counts as activity; a room left alone still times out.

    var lastInput = Date.now();
    ["keydown", "pointerdown", "input"].forEach(function (name) {
      document.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true });
    });
    window.setInterval(function () {
      var inCall = call && call.state === "connected";
      if (Date.now() - lastInput < KEEPALIVE_MS || inCall) {
        fetch(root.dataset.liveUrl, { credentials: "same-origin" }).catch(noop);
      }
    }, KEEPALIVE_MS);

    // ---- for tests and support -------------------------------------------------------------------------------

    var api = {
      pc: null,
      get ws() { return ws; },
      get lastId() { return state.lastId; },
      get ready() { return socketReady(); },
      get marks() { return state.marks; },
      call: call,
      // Drop the connection and stay away for `holdMs` (then reconnect with ?after=<last id>).
      drop: function (holdMs) {
        holdUntil = Date.now() + (holdMs || 0);
        if (ws) ws.close();
      },
      messageIds: function () {
        return Array.prototype.map.call(transcript.querySelectorAll("li[data-id]"), function (li) {
          return Number(li.dataset.id);
        });
      }
    };
    window.ihospitalRoom = api;

    scrollToEnd();
    connect();
  });
})();
