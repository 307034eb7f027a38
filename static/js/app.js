// Small progressive enhancements: copy buttons, confirmations, and pages that keep themselves up to date.
(function () {
  "use strict";
  const POLL_MS = 2500;

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    input.select();
    const done = () => { const label = button.textContent; button.textContent = "✓"; setTimeout(() => { button.textContent = label; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  document.addEventListener("submit", function (event) {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  function every(ms, task) {
    let running = false;
    setInterval(async function () {
      if (document.hidden || running) return;
      running = true;
      try { await task(); } catch (error) { /* the next round tries again */ } finally { running = false; }
    }, ms);
  }

  function applyStatus(element, update) {
    element.dataset.final = update.final ? "yes" : "no";
    // e.g. "Cancel this SMS" makes sense only while the SMS is still queued (or scheduled at the provider);
    // data-while-status lists the statuses, separated by spaces
    element.querySelectorAll("[data-while-status]").forEach(function (part) {
      part.hidden = !part.dataset.whileStatus.split(" ").includes(update.status);
    });
    element.querySelectorAll("[data-status-badge]").forEach(function (badge) {
      badge.className = badge.className.replace(/status-\S+/, "status-" + update.status);
      badge.title = update.label;
      if (badge.classList.contains("ticks")) {
        badge.firstChild.textContent = update.glyph;
        badge.querySelector(".ticks-label").textContent = update.label;
      } else {
        badge.textContent = update.label;
      }
    });
  }

  // Only the messages still waiting on a final status are asked about.
  async function refreshStatuses(container) {
    const waiting = container.querySelectorAll("[data-message-id][data-final='no']");
    if (!waiting.length) return;
    const ids = Array.from(waiting, (element) => element.dataset.messageId);
    const response = await fetch(container.dataset.liveStatuses + "?ids=" + ids.join(","), {credentials: "same-origin"});
    if (!response.ok) return;
    const updates = await response.json();
    let changed = false;
    waiting.forEach(function (element) {
      const update = updates[element.dataset.messageId];
      if (update && !element.querySelector(".status-" + update.status)) { applyStatus(element, update); changed = true; }
    });
    if (changed && container.dataset.reloadFragment) {
      const fragment = await fetch(container.dataset.reloadFragment, {credentials: "same-origin"});
      if (fragment.ok) document.querySelector("[data-fragment]").innerHTML = await fragment.text();
    }
  }

  // Only rows newer than the newest shown are fetched.
  async function fetchNewRows(container) {
    const separator = container.dataset.newRows.includes("?") ? "&" : "?";
    const response = await fetch(container.dataset.newRows + separator + "after_id=" + container.dataset.lastId, {credentials: "same-origin"});
    if (!response.ok) return;
    const lastId = response.headers.get("X-Last-Id");
    if (!lastId) return;
    const rows = container.matches("[data-rows]") ? container : container.querySelector("[data-rows]");
    const html = await response.text();
    if (container.dataset.newRowsPosition === "top") rows.insertAdjacentHTML("afterbegin", html);
    else { rows.insertAdjacentHTML("beforeend", html); rows.lastElementChild.scrollIntoView({block: "nearest"}); }
    container.dataset.lastId = lastId;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-statuses]").forEach(function (container) {
      every(POLL_MS, () => refreshStatuses(container));
    });
    document.querySelectorAll("[data-new-rows]").forEach(function (container) {
      every(POLL_MS, () => fetchNewRows(container));
    });
    document.querySelectorAll("[data-refresh]").forEach(function (container) {
      every(POLL_MS * 2, async function () {
        const response = await fetch(container.dataset.refresh, {credentials: "same-origin"});
        if (response.ok) container.innerHTML = await response.text();
      });
    });
    document.querySelectorAll("[data-health-url][data-health-pending='yes']").forEach(function (container) {
      const text = container.querySelector("[data-health-text]");
      text.textContent = "…";
      const gaveUpAt = Date.now() + 60000;
      const timer = setInterval(async function () {
        if (Date.now() > gaveUpAt) {  // no worker answered
          clearInterval(timer);
          text.textContent = container.dataset.noAnswer;
          return;
        }
        const response = await fetch(container.dataset.healthUrl, {credentials: "same-origin"});
        if (!response.ok) return;
        const health = await response.json();
        if (!health.checked) return;
        clearInterval(timer);
        text.innerHTML = "";
        const verdict = document.createElement("span");
        verdict.className = health.ok ? "ok" : "bad";
        verdict.textContent = (health.ok ? "✓ " : "✗ ") + health.message;
        text.appendChild(verdict);
        // what the check learned about the account (credits, balance ...)
        document.querySelectorAll("[data-account-facts]").forEach((old) => old.remove());
        const facts = document.createElement("table");
        facts.className = "table compact";
        facts.dataset.accountFacts = "";
        Object.entries(health.facts || {}).forEach(function ([label, value]) {
          const row = facts.insertRow();
          row.insertCell().textContent = label;
          row.insertCell().appendChild(document.createElement("strong")).textContent = value;
        });
        if (facts.rows.length) container.after(facts);
      }, 1000);
    });
  });
})();
