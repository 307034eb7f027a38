// Narrow screens: filters folded away, and the menu button: it opens and closes the site's menu (the stylesheet hides the
// menu only while the button is shown and says aria-expanded="false", so without JavaScript the menu stays open).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // filters fold away on a phone, unless some are in use: the list comes first
    const narrow = window.matchMedia("(max-width: 600px)");
    const folding = document.querySelectorAll("details[data-fold-when-narrow]");
    folding.forEach(function (details) { if (narrow.matches && !details.hasAttribute("data-in-use")) details.open = false; });
    narrow.addEventListener("change", function () {
      if (!narrow.matches) folding.forEach(function (details) { details.open = true; });  // wide: no summary to open it
    });
    const button = document.querySelector(".menu-toggle");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      button.setAttribute("aria-expanded", button.getAttribute("aria-expanded") === "true" ? "false" : "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        button.setAttribute("aria-expanded", "false");
        button.focus();
      }
    });
  });
})();
