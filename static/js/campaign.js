// Campaigns: the confirmation's live preview for a chosen recipient, and a campaign page's live
// counts and progress bar. Texts come from the page's data-* attributes (no inline script).
(function () {
  "use strict";
  const POLL_MS = 2500;
  const plurals = new Intl.PluralRules(document.documentElement.lang || "en");

  function previewer(form) {
    const recipient = form.querySelector("[data-preview-recipient]");
    const text = form.querySelector("[data-preview-text]");
    const cost = form.querySelector("[data-preview-cost]");
    let asked = 0;
    async function refresh() {
      const query = new URLSearchParams();
      if (recipient) query.set("number", recipient.value);
      form.querySelectorAll("[data-preview-input]").forEach((input) => query.set(input.name, input.value));
      const mine = ++asked;
      const response = await fetch(form.dataset.previewUrl + "?" + query.toString(), {credentials: "same-origin"});
      if (!response.ok || mine !== asked) return;
      const shown = await response.json();
      text.textContent = shown.text;
      // French says "0 caractère" and "1 caractère": the language's own plural rule picks the form
      const one = plurals.select(shown.characters) === "one";
      cost.textContent = shown.left_out ? cost.dataset.leftOut : (one ? cost.dataset.template : cost.dataset.templateMany)
        .replace("%(chars)s", shown.characters).replace("%(encoding)s", shown.encoding)
        .replace("%(segments)s", shown.segments);
    }
    if (recipient) recipient.addEventListener("change", refresh);
    form.querySelectorAll("[data-preview-input]").forEach((input) => input.addEventListener("input", refresh));
  }

  function followProgress(section) {
    const timer = setInterval(async function () {
      if (document.hidden) return;
      let answer;
      try {
        const response = await fetch(section.dataset.campaignProgress, {credentials: "same-origin"});
        if (!response.ok) return;
        answer = await response.json();
      } catch (error) { return; }
      const bar = section.querySelector("[data-progress-bar]");
      bar.max = answer.total || 1;
      bar.value = answer.done;
      bar.textContent = answer.percent + " %";
      section.querySelector("[data-progress-percent]").textContent = answer.percent + " %";
      Object.entries(answer.counts).forEach(function ([status, count]) {
        const badge = section.querySelector("[data-status-count='" + status + "']");
        if (!badge) return;
        badge.hidden = !count;
        badge.querySelector("strong").textContent = count;
      });
      const unsent = section.querySelector("[data-while-unsent]");
      if (unsent) unsent.hidden = !(answer.counts.queued || answer.counts.scheduled);
      if (answer.finished) clearInterval(timer);
    }, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-campaign-review]").forEach(previewer);
    document.querySelectorAll("[data-campaign-progress]").forEach(followProgress);
  });
})();
