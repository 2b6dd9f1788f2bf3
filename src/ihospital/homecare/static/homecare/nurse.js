/* The nurse's visit page: check in and check out with the phone's location.

   A form marked data-geo asks for the position (navigator.geolocation, up to GEO_TIMEOUT ms) before it is sent,
   and fills its hidden latitude, longitude and accuracy fields. If the phone cannot tell (no GPS fix, permission
   denied, no answer to the permission prompt), the form is sent WITHOUT a location: the server records the check
   and flags the visit for review, it never refuses it. A nurse at the door must always be able to start.
   Without JavaScript the forms are sent as they are (without location, flagged). */
(function () {
  "use strict";

  var GEO_TIMEOUT = 8000;
  // The permission prompt does not count towards the geolocation timeout: if nobody answers it, go on anyway.
  var HARD_LIMIT = GEO_TIMEOUT + 1500;

  function fill(form, name, value) {
    var input = form.querySelector("[data-geo-" + name + "]");
    if (input) input.value = value === null || value === undefined ? "" : String(value);
  }

  function locateThenSend(form, button) {
    var sent = false;
    var wait = form.querySelector("[data-geo-wait]");
    if (wait) wait.hidden = false;
    if (button) button.disabled = true;
    function send(position) {
      if (sent) return;
      sent = true;
      if (position && position.coords) {
        fill(form, "latitude", position.coords.latitude);
        fill(form, "longitude", position.coords.longitude);
        fill(form, "accuracy", Math.round(position.coords.accuracy || 0));
      }
      form.setAttribute("data-geo-done", position ? "located" : "none");
      HTMLFormElement.prototype.submit.call(form);  // submit() does not fire "submit" again
    }
    if (!("geolocation" in navigator)) {
      send(null);
      return;
    }
    window.setTimeout(function () { send(null); }, HARD_LIMIT);
    navigator.geolocation.getCurrentPosition(
      function (position) { send(position); },
      function () { send(null); },
      { enableHighAccuracy: true, timeout: GEO_TIMEOUT, maximumAge: 30000 }
    );
  }

  function start() {
    var forms = document.querySelectorAll("form[data-geo]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (event) {
        var form = event.currentTarget;
        if (form.getAttribute("data-geo-done")) return;
        event.preventDefault();
        if (form.getAttribute("data-geo-busy")) return;  // a second tap while locating
        form.setAttribute("data-geo-busy", "1");
        locateThenSend(form, event.submitter || form.querySelector("button[type=submit]"));
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
