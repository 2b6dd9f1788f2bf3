/* The live consultation: a peer-to-peer mesh of up to TELECONSULT_MAX_PARTICIPANTS (4) browsers, signalled over
   ws/teleconsult/session/<id>/ (protocol: teleconsult/consumers.py). Vanilla JS, no inline script.

   Joining asks for the camera and microphone, then opens the socket: the server answers "hello" with our peer id
   and the peers already there, and tells them "peer_joined". One RTCPeerConnection per remote peer. The newcomer
   offers to each peer already there, who answers with its own tracks (no glare on the first negotiation); any
   later negotiation (an ICE restart) uses the "perfect negotiation" pattern (as visits/room.js, for two): in a
   glare the polite side (the one with the smaller peer id) rolls back and answers. Signals are addressed to one
   peer ({"type": "signal", "to": id, "data": {description | candidate}}). Every remote peer gets a tile labelled
   with their name and role.

   Shared viewing: choosing an attachment sends {"type": "share"}; everyone's viewer loads the same attachment
   (an HTML fragment of this page, ?part=viewer&attachment=<id>, read through the server's access checks).

   For tests and support: window.ihospitalMesh exposes the socket, the peers and their connections. */
(function () {
  "use strict";

  var PING_EVERY_MS = 25000;
  var MAX_BACKOFF_MS = 15000;
  // Closed for good: signed out (4401), not a participant (4404), room full (4409), ended or cancelled (4410),
  // replaced by another window (4000).
  var FINAL_CODES = [4000, 4401, 4404, 4409, 4410];

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function fmt(text, params) {
    return String(text || "").replace(/%\((\w+)\)[sd]/g, function (_m, key) {
      return params && key in params ? String(params[key]) : "";
    });
  }

  function noop() {}

  function warn(what, err) {
    if (window.console) console.warn(what, err);
  }

  ready(function () {
    var root = document.getElementById("tc-session");
    if (!root) return;
    var S = JSON.parse(document.getElementById("tc-session-strings").textContent);
    var callEl = root.querySelector("[data-testid='call']");
    var tiles = document.getElementById("tc-tiles");
    var template = document.getElementById("tc-remote-template");
    var localVideo = document.getElementById("tc-local-video");
    var statusEl = root.querySelector("[data-testid='call-status']");
    var errorEl = root.querySelector("[data-testid='live-error']");
    var viewer = document.getElementById("tc-viewer");
    var sharedBy = root.querySelector("[data-testid='shared-by']");
    var buttons = {};
    Array.prototype.forEach.call(root.querySelectorAll("[data-call]"), function (b) {
      buttons[b.getAttribute("data-call")] = b;
    });

    var state = {
      pageUrl: root.dataset.pageUrl || window.location.pathname,
      iceServers: [],
      myPeerId: null,
      joined: false,       // the user wants to be in the call (until hang-up or the end)
      ended: root.dataset.status === "ended" || root.dataset.status === "cancelled",
      localStream: null,
      sharedId: viewer && viewer.dataset.attachmentId ? Number(viewer.dataset.attachmentId) : null
    };
    var peers = {};        // peer id -> {info, pc, tile, video, polite, makingOffer, ignoreOffer, chain}
    var ws = null;
    var backoff = 1000;
    var pingTimer = null;
    var reconnectTimer = null;

    // ---- page helpers ---------------------------------------------------------------------------------------

    function say(text) {
      if (statusEl) statusEl.textContent = text;
    }

    function showError(text) {
      if (!errorEl) return;
      errorEl.textContent = text || "";
      errorEl.hidden = !text;
    }

    function setCallState(name) {
      if (callEl) callEl.dataset.state = name;
      var inCall = name === "joining" || name === "in-call";
      if (buttons.join) buttons.join.hidden = inCall || state.ended;
      ["mute", "camera", "hangup", "end"].forEach(function (key) {
        if (buttons[key]) buttons[key].hidden = !inCall;
      });
    }

    function roleLabel(role) {
      return (S.roles && S.roles[role]) || role || "";
    }

    function updateCount() {
      if (!state.joined) return;
      var n = Object.keys(peers).length;
      say(n ? fmt(S.inCall, { n: n }) : S.waiting);
    }

    // ---- media ------------------------------------------------------------------------------------------------

    function getMedia() {
      if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        return Promise.reject({ name: "InsecureContext" });
      }
      return navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: true
      }).catch(function (err) {
        if (err && (err.name === "NotFoundError" || err.name === "OverconstrainedError" || err.name === "NotReadableError")) {
          return navigator.mediaDevices.getUserMedia({ audio: true });
        }
        throw err;
      });
    }

    function mediaError(err) {
      var name = err && err.name;
      if (name === "InsecureContext") return S.insecure;
      if (name === "NotAllowedError" || name === "SecurityError") return S.mediaDenied;
      if (name === "NotFoundError") return S.mediaMissing;
      return S.mediaDenied;
    }

    function stopMedia() {
      if (state.localStream) state.localStream.getTracks().forEach(function (t) { t.stop(); });
      state.localStream = null;
      localVideo.srcObject = null;
    }

    function toggle(kind) {
      if (!state.localStream) return;
      var tracks = kind === "audio" ? state.localStream.getAudioTracks() : state.localStream.getVideoTracks();
      if (!tracks.length) return;
      var off = tracks[0].enabled;        // turning it off now
      tracks.forEach(function (t) { t.enabled = !off; });
      var button = kind === "audio" ? buttons.mute : buttons.camera;
      if (button) {
        button.setAttribute("aria-pressed", off ? "true" : "false");
        button.textContent = kind === "audio" ? (off ? S.unmute : S.mute) : (off ? S.cameraOn : S.cameraOff);
      }
    }

    // ---- peers ---------------------------------------------------------------------------------------------------

    function addTile(peerId, info) {
      var node = template.content.firstElementChild.cloneNode(true);
      node.dataset.peerId = peerId;
      node.querySelector("[data-testid='remote-name']").textContent = info.name || "";
      node.querySelector("[data-testid='remote-role']").textContent = roleLabel(info.role);
      tiles.appendChild(node);
      return node;
    }

    function playRemote(video) {
      var attempt = video.play();
      if (attempt && attempt.catch) {
        attempt.catch(function () {
          // Autoplay with sound refused: play muted, and let a tap bring the sound.
          video.muted = true;
          video.play().catch(noop);
          say(S.tapToHear);
          document.addEventListener("pointerdown", function once() {
            document.removeEventListener("pointerdown", once);
            Object.keys(peers).forEach(function (id) {
              peers[id].video.muted = false;
              peers[id].video.play().catch(noop);
            });
          });
        });
      }
    }

    // A remote peer: its tile, and (once there is something to negotiate) its peer connection. The newcomer
    // connects to everyone already there (``connect``); those already there wait for its offer and answer it with
    // their tracks, so the first negotiation has no glare. Later ones (an ICE restart) may: perfect negotiation.
    function peerFor(peerId, info, connect) {
      var p = peers[peerId];
      if (p) {
        if (info && info.name && !p.info.name) {
          p.info = info;
          p.tile.querySelector("[data-testid='remote-name']").textContent = info.name;
          p.tile.querySelector("[data-testid='remote-role']").textContent = roleLabel(info.role);
        }
      } else {
        info = info || { peer_id: peerId, name: "", role: "" };
        var tile = addTile(peerId, info);
        p = {
          id: peerId,
          info: info,
          tile: tile,
          video: tile.querySelector("video"),
          polite: state.myPeerId < peerId,
          makingOffer: false,
          ignoreOffer: false,
          chain: Promise.resolve(),
          // Candidates that came before any remote description: applied once one is set.
          early: [],
          pc: null
        };
        peers[peerId] = p;
        updateCount();
      }
      if (connect && !p.pc) createConnection(p);
      return p;
    }

    function createConnection(p) {
      var peerId = p.id;
      var tile = p.tile;
      var pc = new RTCPeerConnection({ iceServers: state.iceServers || [] });
      p.pc = pc;
      pc.ontrack = function (event) {
        var stream = event.streams && event.streams[0] ? event.streams[0] : new MediaStream([event.track]);
        if (p.video.srcObject !== stream) {
          p.video.srcObject = stream;
          playRemote(p.video);
        }
      };
      pc.onnegotiationneeded = function () {
        p.makingOffer = true;
        pc.setLocalDescription().then(function () {
          signal(peerId, { description: pc.localDescription.toJSON() });
        }).catch(function (err) {
          warn("offer failed", err);
        }).finally(function () {
          p.makingOffer = false;
        });
      };
      pc.onicecandidate = function (event) {
        if (event.candidate) signal(peerId, { candidate: event.candidate.toJSON() });
      };
      pc.onconnectionstatechange = function () {
        tile.dataset.state = pc.connectionState;
        var conn = tile.querySelector("[data-testid='remote-state']");
        conn.textContent = pc.connectionState === "connected" ? "" : "(" + pc.connectionState + ")";
        if (pc.connectionState === "failed") {
          showError(fmt(S.failed, { name: p.info.name }));
          if (pc.restartIce) pc.restartIce();
        }
      };
      if (state.localStream) {
        state.localStream.getTracks().forEach(function (track) { pc.addTrack(track, state.localStream); });
      }
      return pc;
    }

    function dropPeer(peerId) {
      var p = peers[peerId];
      if (!p) return;
      delete peers[peerId];
      if (p.pc) {
        p.pc.ontrack = p.pc.onicecandidate = p.pc.onnegotiationneeded = p.pc.onconnectionstatechange = null;
        p.pc.close();
      }
      p.video.srcObject = null;
      if (p.tile.parentNode) p.tile.parentNode.removeChild(p.tile);
      updateCount();
    }

    function dropAll() {
      Object.keys(peers).forEach(dropPeer);
    }

    function handleSignal(p, data) {
      var pc = p.pc;
      if (data.description) {
        var description = data.description;
        var collision = description.type === "offer" && (p.makingOffer || pc.signalingState !== "stable");
        p.ignoreOffer = !p.polite && collision;
        if (p.ignoreOffer) return null;
        return pc.setRemoteDescription(description).then(function () {
          var early = p.early;
          p.early = [];
          early.forEach(function (candidate) { pc.addIceCandidate(candidate).catch(noop); });
          if (description.type !== "offer") return null;
          return pc.setLocalDescription().then(function () {
            signal(p.id, { description: pc.localDescription.toJSON() });
          });
        });
      }
      if (data.candidate) {
        if (!pc.remoteDescription) {
          p.early.push(data.candidate);
          return null;
        }
        return pc.addIceCandidate(data.candidate).catch(function (err) {
          if (!p.ignoreOffer) warn("candidate refused", err);
        });
      }
      return null;
    }

    function onSignal(from, data) {
      if (!from || from === state.myPeerId || !data || typeof data !== "object" || !state.localStream) return;
      var p = peerFor(from, null, true);
      p.chain = p.chain.then(function () { return handleSignal(p, data); }).catch(function (err) {
        warn("signal", err);
      });
    }

    // ---- the socket ------------------------------------------------------------------------------------------------

    function send(message) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(message));
      return true;
    }

    function signal(to, data) {
      return send({ type: "signal", to: to, data: data });
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
      ws = socket;
      socket.onopen = function () {
        backoff = 1000;
        window.clearInterval(pingTimer);
        pingTimer = window.setInterval(function () { send({ type: "ping" }); }, PING_EVERY_MS);
      };
      socket.onmessage = function (event) {
        var msg;
        try { msg = JSON.parse(event.data); } catch (e) { return; }
        onMessage(msg);
      };
      socket.onclose = function (event) {
        if (ws !== socket) return;
        ws = null;
        window.clearInterval(pingTimer);
        dropAll();
        state.myPeerId = null;
        if (!state.joined) return;
        if (FINAL_CODES.indexOf(event.code) >= 0 || state.ended) {
          leave(false);
          return;
        }
        say(S.reconnecting);
        reconnectTimer = window.setTimeout(connect, backoff);
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      };
    }

    function onMessage(msg) {
      switch (msg.type) {
        case "hello":
          dropAll();
          state.myPeerId = msg.peer_id;
          state.iceServers = msg.ice_servers || [];
          showError("");
          setCallState("in-call");
          (msg.peers || []).forEach(function (peer) { peerFor(peer.peer_id, peer, true); });
          updateCount();
          if (msg.shared && msg.shared.id !== state.sharedId) showShared(msg.shared, null);
          break;
        case "peer_joined":
          if (state.localStream && msg.peer) peerFor(msg.peer.peer_id, msg.peer, false);
          break;
        case "peer_left":
          dropPeer(msg.peer_id);
          break;
        case "signal":
          onSignal(msg.from, msg.data);
          break;
        case "shared":
          showShared(msg.attachment, msg.by);
          break;
        case "ended":
          state.ended = true;
          root.dataset.status = "ended";
          leave(false);
          say(msg.by ? fmt(S.endedBy, { name: msg.by }) : S.ended);
          break;
        case "error":
          showError(msg.message || msg.code);
          if (msg.code === "session_closed") state.ended = true;
          break;
        default:
          break;
      }
    }

    // ---- joining and leaving ----------------------------------------------------------------------------------------

    function join() {
      if (state.joined || state.ended) return Promise.resolve();
      showError("");
      say(S.connecting);
      setCallState("joining");
      return getMedia().then(function (stream) {
        state.localStream = stream;
        localVideo.srcObject = stream;
        localVideo.play().catch(noop);
        state.joined = true;
        connect();
      }, function (err) {
        setCallState("idle");
        showError(mediaError(err));
      });
    }

    function leave(notify) {
      state.joined = false;
      window.clearTimeout(reconnectTimer);
      window.clearInterval(pingTimer);
      var socket = ws;
      ws = null;
      if (socket) {
        socket.onclose = null;
        if (notify || socket.readyState === WebSocket.OPEN) socket.close(1000);
      }
      dropAll();
      stopMedia();
      state.myPeerId = null;
      setCallState(state.ended ? "ended" : "idle");
      if (state.ended) {
        say(S.ended);
        if (buttons.join) buttons.join.hidden = true;
      } else {
        say(S.left);
      }
    }

    // ---- shared viewing --------------------------------------------------------------------------------------------

    function markShared(id) {
      Array.prototype.forEach.call(root.querySelectorAll("[data-share]"), function (b) {
        var on = Number(b.getAttribute("data-share")) === id;
        b.classList.toggle("is-shared", on);
        b.setAttribute("aria-pressed", on ? "true" : "false");
      });
    }

    function loadViewer(id) {
      var url = state.pageUrl + "?part=viewer&attachment=" + encodeURIComponent(id);
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.text();
      }).then(function (html) {
        viewer.innerHTML = html;
        viewer.dataset.attachmentId = String(id);
        state.sharedId = id;
        markShared(id);
      }).catch(function (err) {
        warn("viewer", err);
        showError(S.viewerFailed);
      });
    }

    function showShared(attachment, by) {
      if (!attachment || !attachment.id) return;
      loadViewer(attachment.id).then(function () {
        if (sharedBy) {
          sharedBy.textContent = by ? fmt(S.sharedBy, { name: by.name }) : "";
          sharedBy.hidden = !by;
        }
      });
    }

    root.addEventListener("click", function (event) {
      var shareButton = event.target.closest("[data-share]");
      if (shareButton) {
        var id = Number(shareButton.getAttribute("data-share"));
        if (!send({ type: "share", attachment_id: id })) {
          // Not in the call: show it here only.
          loadViewer(id).then(function () {
            if (sharedBy) {
              sharedBy.textContent = S.shownHere;
              sharedBy.hidden = false;
            }
          });
        }
        return;
      }
      var button = event.target.closest("[data-call]");
      if (!button) return;
      var action = button.getAttribute("data-call");
      if (action === "join") join();
      else if (action === "hangup") leave(true);
      else if (action === "mute") toggle("audio");
      else if (action === "camera") toggle("video");
      else if (action === "end" && window.confirm(S.confirmEnd)) send({ type: "end" });
    });

    window.addEventListener("pagehide", function () {
      if (ws) ws.close(1000);
    });

    // ---- for tests and support ----------------------------------------------------------------------------------------

    window.ihospitalMesh = {
      get ws() { return ws; },
      get ready() { return !!(ws && ws.readyState === WebSocket.OPEN && state.myPeerId); },
      get peerId() { return state.myPeerId; },
      get sharedId() { return state.sharedId; },
      peers: function () {
        return Object.keys(peers).map(function (id) {
          var p = peers[id];
          var pc = p.pc;
          return {
            peerId: id, name: p.info.name, role: p.info.role, polite: p.polite,
            state: pc ? pc.connectionState : "closed",
            signaling: pc ? pc.signalingState : "", ice: pc ? pc.iceConnectionState : "",
            local: pc && pc.localDescription ? pc.localDescription.type : "",
            remote: pc && pc.remoteDescription ? pc.remoteDescription.type : ""
          };
        });
      },
      connections: function () {
        return Object.keys(peers).map(function (id) { return peers[id].pc; }).filter(Boolean);
      },
      join: join,
      hangup: function () { leave(true); },
      share: function (id) { return send({ type: "share", attachment_id: id }); }
    };

    setCallState(state.ended ? "ended" : "idle");
  });
})();
