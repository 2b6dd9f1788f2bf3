/* The patient's home nursing pages: the booking form's address helpers. (Live status comes from live.js.)

   - "Find on map" posts the address through htmx and shows the answer in #hc-locate; a refusal (4xx) is shown
     there too (htmx leaves error responses unswapped by default).
   - "Use my location" asks the phone for its position, puts it in the hidden latitude/longitude fields (the
     booking service then uses it as the pin) and runs "Find on map" to show where that is.
   - Typing another address drops such a pin and the map answer: they belonged to the address before.
   Without JavaScript "Find on map" submits the form to the same check, and the location button stays hidden. */
(function () {
  "use strict";

  var strings = {};

  function field(selector) { return document.querySelector(selector); }

  function say(text, isError) {
    var box = field("#hc-locate");
    if (!box) return;
    box.innerHTML = "";
    var p = document.createElement("p");
    p.className = isError ? "alert alert-error" : "muted";
    p.setAttribute("role", isError ? "alert" : "status");
    p.textContent = text;
    box.appendChild(p);
  }

  function setPin(lat, lng) {
    var latInput = field("[data-hc-lat]");
    var lngInput = field("[data-hc-lng]");
    if (latInput) latInput.value = lat;
    if (lngInput) lngInput.value = lng;
  }

  function locateMe() {
    if (!("geolocation" in navigator)) { say(strings.no_location || "", true); return; }
    say(strings.locating || "", false);
    navigator.geolocation.getCurrentPosition(function (position) {
      setPin(position.coords.latitude.toFixed(6), position.coords.longitude.toFixed(6));
      var find = field("[data-hc-find]");
      if (find) find.click();
    }, function () {
      say(strings.no_location || "", true);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  function start() {
    var source = document.getElementById("hc-patient-strings");
    if (source) {
      try { strings = JSON.parse(source.textContent) || {}; } catch (e) { strings = {}; }
    }
    var address = field("[data-hc-address]");
    if (address) {
      address.addEventListener("input", function () {
        // The pin and the map answer belonged to the address as it was.
        setPin("", "");
        var box = field("#hc-locate");
        if (box) box.innerHTML = "";
      });
    }
    var me = field("[data-hc-locate-me]");
    if (me) me.addEventListener("click", locateMe);
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      // The locate check answers 400 with its message: show it in place like a success.
      var target = event.detail.target;
      if (target && target.id === "hc-locate" && event.detail.xhr.status < 500) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
