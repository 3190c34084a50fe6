// Keyboard shortcuts on a review item; never while typing, and reject always asks first.
(function () {
  "use strict";
  var form = document.getElementById("decide");
  if (!form) { return; }
  function typing(target) {
    var tag = (target && target.tagName || "").toLowerCase();
    return tag === "textarea" || tag === "input" || tag === "select" || (target && target.isContentEditable);
  }
  var reject = document.getElementById("reject");
  if (reject) {
    reject.addEventListener("click", function (event) {
      if (!window.confirm(reject.getAttribute("data-confirm") || "Reject?")) { event.preventDefault(); }
    });
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) { return; }
    var key = event.key.toLowerCase();
    if (key === "a") {
      var approve = document.getElementById("approve");
      if (approve && !approve.disabled) { event.preventDefault(); approve.click(); }
    } else if (key === "e") {
      event.preventDefault(); document.getElementById("output").focus();
    } else if (key === "r" && reject) {
      event.preventDefault(); reject.click();
    } else if (key === "c") {
      var claim = document.getElementById("claim");
      if (claim) { event.preventDefault(); claim.click(); }
    }
  });
})();
