// The webhooks page: the add form shows the fields of the kind of endpoint chosen.
(function () {
  "use strict";
  const form = document.querySelector("[data-webhook-form]");
  if (!form) return;
  function show() {
    const chosen = form.querySelector("input[name=kind]:checked");
    form.querySelectorAll("[data-kind]").forEach(function (part) {
      part.hidden = chosen && part.dataset.kind !== chosen.value;
    });
  }
  form.addEventListener("change", show);
  show();
})();
