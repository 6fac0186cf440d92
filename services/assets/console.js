// The moment slider: shows which event a position means while it moves, and shows the case at
// that moment when it comes to rest. Without this script the form's Show button does the same.
//
// A keyboard moves the slider one event per key press and the browser reports each press as a
// change, so the page is loaded only once the presses pause (one load, not one per key, and no
// load racing the next key), and the slider has the focus again on the page that follows, where
// the next press goes on from. Choosing whose view to show loads at once, with the slider's
// current moment.
(function () {
  "use strict";
  var slider = document.getElementById("at");
  var label = document.getElementById("moment-label");
  var form = document.getElementById("moment-form");
  if (!slider || !label || !form) { return; }
  var REST_MS = 500;
  var FOCUS_KEY = "brobyg.console.focus-slider";
  var pending = null;
  function show(fromSlider) {
    if (pending !== null) { window.clearTimeout(pending); pending = null; }
    try {
      if (fromSlider) { window.sessionStorage.setItem(FOCUS_KEY, "1"); }
      else { window.sessionStorage.removeItem(FOCUS_KEY); }
    } catch (e) { /* storage refused: the focus just stays where the browser puts it */ }
    form.submit();
  }
  try {
    if (window.sessionStorage.getItem(FOCUS_KEY) === "1") {
      window.sessionStorage.removeItem(FOCUS_KEY);
      slider.focus();
    }
  } catch (e) { /* as above */ }
  slider.addEventListener("input", function () {
    var row = document.getElementById("ev-" + slider.value);
    label.textContent = "#" + slider.value + (row ? " · " + row.getAttribute("data-label") : "");
    if (pending !== null) { window.clearTimeout(pending); pending = null; }
  });
  slider.addEventListener("change", function () {
    if (pending !== null) { window.clearTimeout(pending); }
    pending = window.setTimeout(function () { show(true); }, REST_MS);
  });
  var seenBy = document.getElementById("seen_by");
  if (seenBy) { seenBy.addEventListener("change", function () { show(false); }); }
})();
