/* Library page: replace posters that fail to load with the placeholder. */
(function () {
  "use strict";
  function usePlaceholder(img) {
    var ph = document.createElement("div");
    ph.className = "poster placeholder";
    ph.setAttribute("aria-hidden", "true");
    ph.textContent = "\u25B6";
    img.replaceWith(ph);
  }
  document.querySelectorAll("img.poster").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("loading") !== "lazy") {
      usePlaceholder(img);
      return;
    }
    img.addEventListener("error", function () { usePlaceholder(img); });
  });
})();
