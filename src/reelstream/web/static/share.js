/* The watch page's Share box: a Copy button copies the field it names (data-copy="<id>")
   with the Clipboard API, falling back to selecting the text (copy with the keyboard). */
(function () {
  "use strict";
  var status = document.getElementById("copy-status");

  function say(text) {
    if (status) status.textContent = text;
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) return;
      field.focus();
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(function () {
          button.textContent = "Copied";
          say("Copied to the clipboard.");
          window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
        }, function () {
          say("Selected: press Ctrl+C (or ⌘C) to copy.");
        });
      } else {
        say("Selected: press Ctrl+C (or ⌘C) to copy.");
      }
    });
  });
})();
