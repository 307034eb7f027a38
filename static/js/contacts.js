// The contact tables' "select all" box ticks or clears every contact of its table.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    const box = event.target.closest("[data-select-all]");
    if (!box) return;
    box.closest("table").querySelectorAll("input[name=contact_ids]").forEach(function (contact) {
      contact.checked = box.checked;
    });
  });
})();
