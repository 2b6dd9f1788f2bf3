/* Small progressive enhancements; every page works without them. Loaded in <head>, so no inline handlers. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");

  document.addEventListener("click", function (event) {
    // The phone menu.
    var toggle = event.target.closest(".menu-toggle");
    if (toggle) {
      var nav = document.getElementById(toggle.getAttribute("aria-controls"));
      var open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      if (nav) nav.classList.toggle("open", open);
      return;
    }
    // Picking an ICD-10 code from the search results fills the code field.
    var pick = event.target.closest("[data-icd-code]");
    if (pick) {
      var input = document.getElementById(pick.getAttribute("data-icd-target"));
      if (input) {
        input.value = pick.getAttribute("data-icd-code");
        input.focus();
      }
    }
  });

  // Ask before serious, irreversible-feeling actions (forms marked data-confirm).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
