/* Starts Swagger UI on /docs (reelstream.web.site_files): a file, not an inline script, so the
 * page's Content-Security-Policy needs no 'unsafe-inline' and no CDN. No validator badge (it
 * would call validator.swagger.io). */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
  });
})();
