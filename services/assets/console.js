// The moment slider: shows which event a position means while it moves, and shows the case at
// that moment when it is let go. Without this script the form's Show button does the same.
(function () {
  "use strict";
  var slider = document.getElementById("at");
  var label = document.getElementById("moment-label");
  var form = document.getElementById("moment-form");
  if (!slider || !label || !form) { return; }
  slider.addEventListener("input", function () {
    var row = document.getElementById("ev-" + slider.value);
    label.textContent = "#" + slider.value + (row ? " · " + row.getAttribute("data-label") : "");
  });
  slider.addEventListener("change", function () { form.submit(); });
  var seenBy = document.getElementById("seen_by");
  if (seenBy) { seenBy.addEventListener("change", function () { form.submit(); }); }
})();
