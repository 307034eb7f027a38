// Flash, "send later" and the number check appear only for phones whose provider offers them.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.querySelector("[data-phone-options]");
    if (!form) return;
    const options = JSON.parse(form.dataset.phoneOptions);
    const phoneSelect = form.querySelector("select[name=phone_id]");
    const check = form.querySelector("[data-number-check]");
    const checkButton = form.querySelector("[data-check-numbers]");
    const checkLabel = checkButton.textContent;
    const checked = form.querySelector("[data-checked-numbers]");

    function showOptions() {
      const offered = options[phoneSelect.value] || {};
      form.querySelectorAll("[data-option]").forEach(function (block) {
        const on = Boolean(offered[block.dataset.option]);
        block.hidden = !on;
        if (!on) block.querySelectorAll("input").forEach((input) => { if (input.type === "checkbox") input.checked = false; else input.value = ""; });
      });
      check.hidden = !offered.check;
      checkButton.textContent = checkLabel.replace("{provider}", offered.provider || "");
      checked.innerHTML = "";
    }

    function say(items) {
      checked.innerHTML = "";
      items.forEach(function (item) {
        const line = document.createElement("li");
        const differs = item.sent_to && item.cleaned && item.sent_to.replace("+", "") !== item.cleaned.replace(/^00/, "");
        line.textContent = item.error ? item.typed + " → " + item.error
          : item.typed + " → " + item.cleaned + (differs ? "  ≠ " + item.sent_to + " (" + checked.dataset.differs + ")" : "");
        line.className = item.error || differs ? "bad" : "ok";
        checked.appendChild(line);
      });
    }

    checkButton.addEventListener("click", async function () {
      const offered = options[phoneSelect.value];
      const body = new FormData();
      body.append("numbers", form.querySelector("[name=numbers]").value);
      body.append("csrf_token", form.querySelector("[name=csrf_token]").value);
      checked.innerHTML = "<li>…</li>";
      const response = await fetch(offered.check_url, {method: "POST", body: body, credentials: "same-origin"});
      const answer = await response.json();
      if (!response.ok) { say([{typed: "", error: answer.error}]); return; }
      for (let tries = 0; tries < 60; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const result = await (await fetch(answer.result_url, {credentials: "same-origin"})).json();
        if (result.done) { say(result.numbers); return; }
        if (result.failed) break;
      }
      say([{typed: "", error: "—"}]);
    });

    phoneSelect.addEventListener("change", showOptions);
    showOptions();
  });
})();
