/* Copy buttons (account page: a new access token; admin users: a generated password).
   <button data-copy="ID"> copies the text of the element #ID with navigator.clipboard; where
   that is missing or refused (plain http on a LAN address is not a secure context), it selects
   the text and tries document.execCommand("copy"), else leaves it selected for Ctrl+C. */
(function () {
  "use strict";

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function say(button, text) {
    var status = document.getElementById(button.id + "-status");
    if (status) status.textContent = text;
  }

  function fallback(button, el) {
    selectText(el);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    say(button, ok ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy.");
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var el = document.getElementById(button.getAttribute("data-copy"));
      if (!el) return;
      var text = el.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          function () { say(button, "Copied."); },
          function () { fallback(button, el); }
        );
      } else {
        fallback(button, el);
      }
    });
  });
})();
