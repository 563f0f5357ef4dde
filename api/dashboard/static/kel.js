// kel-flow dashboard: progressive enhancement only; every page works without it.
// Loaded with `defer` from base.html.j2 (CSP script-src 'self': no inline script).
"use strict";

(function () {
  // After a form's 303 back to a list, the fragment names the row it acted on
  // (#eskalation-123): put the keyboard focus back on it, or on the selection form.
  function focusTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!id) { return; }
    var target = document.getElementById(id);
    var message = document.getElementById("meldung");
    if (!target && message && message.textContent.trim()) { target = message; }
    if (!target) { return; }
    if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
    target.focus();
  }

  // The result of the action is in the role=status region when the page arrives; a live
  // region announces changes, not what it held on load: put the text in again.
  function announce() {
    var region = document.getElementById("meldung");
    if (!region || !region.textContent.trim()) { return; }
    var content = Array.prototype.slice.call(region.childNodes);
    content.forEach(function (node) { region.removeChild(node); });
    window.setTimeout(function () {
      content.forEach(function (node) { region.appendChild(node); });
    }, 150);
  }

  // "Alle auswählen" for the checkboxes of the escalation inbox (hidden without script).
  function selectAll() {
    var all = document.getElementById("alle-auswaehlen");
    if (!all) { return; }
    var boxes = document.querySelectorAll('input[type="checkbox"][name="eskalation"]');
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        var checked = Array.prototype.filter.call(boxes, function (b) { return b.checked; });
        all.checked = checked.length === boxes.length;
        all.indeterminate = checked.length > 0 && checked.length < boxes.length;
      });
    });
  }

  function start() {
    selectAll();
    announce();
    focusTarget();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
