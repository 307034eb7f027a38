// Small progressive enhancements: copy buttons, confirmations, and pages that keep themselves up to date.
(function () {
  "use strict";
  const POLL_MS = 2500;

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const input = document.getElementById(button.dataset.copy);
    input.select();
    // the button keeps its name ("Copy"); the live region says "Copied", and a tick shows beside it for a moment
    const done = () => {
      const announcer = document.querySelector("[data-announcer]");
      if (announcer) announce(announcer.dataset.copied);
      button.classList.add("copied");
      setTimeout(() => { button.classList.remove("copied"); }, 1500);
    };
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

  // Said by a screen reader when it is done speaking (the page's polite live region). Emptied
  // first, so that the same words said twice are heard twice.
  function announce(text) {
    const announcer = document.querySelector("[data-announcer]");
    if (!announcer || !text) return;
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 100);
  }

  const SAID_ONE_BY_ONE = 3;  // more status changes at once are said as their number

  function statusChangesSaid(changes) {
    const announcer = document.querySelector("[data-announcer]");
    if (!announcer || !changes.length) return "";
    if (changes.length > SAID_ONE_BY_ONE) {
      const forms = JSON.parse(announcer.dataset.statusesChanged);
      const form = new Intl.PluralRules(document.documentElement.lang || "en").select(changes.length) === "one" ? forms[0] : forms[1];
      return form.replace("%(num)s", changes.length);
    }
    return changes.map(function ([element, update]) {
      const name = element.dataset.announceName;
      return (name ? announcer.dataset.statusOf.replace("%(name)s", name) : announcer.dataset.statusHere)
        .replace("%(status)s", update.label);
    }).join(" ");
  }

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
    const changes = [];
    waiting.forEach(function (element) {
      const update = updates[element.dataset.messageId];
      if (update && !element.querySelector(".status-" + update.status)) { applyStatus(element, update); changes.push([element, update]); }
    });
    const changed = changes.length > 0;
    // the banner ("Your SMS was not sent: …") is a live region of its own: what it says is not said twice
    if (changed && container.dataset.reloadPage) {
      if (!await reloadMessage(container, updates[waiting[0].dataset.messageId])) announce(statusChangesSaid(changes));
      return;
    }
    announce(statusChangesSaid(changes));
    if (changed && container.dataset.reloadFragment) {
      const fragment = await fetch(container.dataset.reloadFragment, {credentials: "same-origin"});
      if (fragment.ok) document.querySelector("[data-fragment]").innerHTML = await fragment.text();
    }
  }

  // A message's page, once its status changed: everything the status brings (its reason, the
  // provider's id, "Send again", the timeline) as the page now shows it, and a banner saying
  // "on its way" replaced by what became of it.
  async function reloadMessage(container, update) {
    const response = await fetch(container.dataset.reloadPage, {credentials: "same-origin"});
    if (!response.ok) return false;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    ["[data-message-id]", "[data-fragment]"].forEach(function (selector) {
      const shown = document.querySelector(selector), now = fresh.querySelector(selector);
      if (shown && now) shown.innerHTML = now.innerHTML;
    });
    const banner = JSON.parse(container.dataset.banners || "{}")[update.status];
    const flashes = document.querySelectorAll(".flash.success");
    if (!banner || !flashes.length) return false;
    const text = update.reason ? banner.replace("%(reason)s", update.reason) : banner.replace(/\s*:\s*%\(reason\)s/, ".");
    flashes.forEach(function (flash) {
      flash.className = "flash " + (update.status === "delivered" ? "success" : "error");
      flash.textContent = text;
    });
    return true;
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


  // ---- a new incoming SMS, on every page: the menu's badge, the title's count, a toast, a
  // short sound and, when the user allowed them, a browser notification ----
  const SOUND_KEY = "smsdesk.sound";
  const TOLD_KEY = "smsdesk.told";  // the newest SMS a tab has rung for: other tabs stay quiet

  function stored(key) { try { return localStorage.getItem(key); } catch (error) { return null; } }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (error) { /* private mode */ } }
  function soundOn() { return stored(SOUND_KEY) !== "off"; }

  // Browsers let a page play sound only once the user has clicked or typed in it.
  let audio = null;
  function wakeAudio() {
    if (!audio && window.AudioContext) audio = new AudioContext();
    if (audio && audio.state === "suspended") audio.resume();
  }
  ["click", "keydown", "touchstart"].forEach((kind) => document.addEventListener(kind, wakeAudio, {passive: true}));

  function beep() {
    if (!soundOn() || !audio || audio.state !== "running") return;
    [[880, 0], [1320, 0.12]].forEach(function ([frequency, delay]) {
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      const start = audio.currentTime + delay;
      tone.frequency.value = frequency;
      volume.gain.setValueAtTime(0.0001, start);
      volume.gain.exponentialRampToValueAtTime(0.15, start + 0.01);
      volume.gain.exponentialRampToValueAtTime(0.0001, start + 0.15);
      tone.connect(volume).connect(audio.destination);
      tone.start(start);
      tone.stop(start + 0.16);
    });
  }

  function firstTabToTell(id) {
    if (id <= Number(stored(TOLD_KEY) || 0)) return false;
    store(TOLD_KEY, String(id));
    return true;
  }

  function showUnread(count) {
    document.querySelectorAll("[data-unread-badge]").forEach(function (badge) {
      badge.textContent = count;
      badge.hidden = !count;
    });
    document.title = (count ? "(" + count + ") " : "") + document.title.replace(/^\(\d+\) /, "");
  }

  function toast(toasts, sms) {
    const item = document.createElement("div");
    item.className = "toast";
    const link = document.createElement("a");
    link.href = sms.url;
    link.appendChild(document.createElement("strong")).textContent = toasts.dataset.toastTitle.replace("%(sender)s", sms.sender);
    link.appendChild(document.createElement("span")).textContent = sms.text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.textContent = "×";
    close.title = toasts.dataset.toastClose;
    close.setAttribute("aria-label", toasts.dataset.toastClose);
    close.addEventListener("click", () => item.remove());
    item.append(link, close);
    toasts.appendChild(item);
    while (toasts.children.length > 3) toasts.firstElementChild.remove();
    setTimeout(() => item.remove(), 30000);
  }

  function notify(toasts, sms) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!document.hidden && document.hasFocus()) return;  // the toast says it
    const notification = new Notification(toasts.dataset.toastTitle.replace("%(sender)s", sms.sender),
                                          {body: sms.text, tag: "sms-" + sms.id});
    notification.onclick = function () { window.focus(); window.location.href = sms.url; };
  }

  function isShownHere(sms) {
    return !document.hidden && new URL(sms.url, window.location.href).pathname === window.location.pathname;
  }

  // Also while the tab is hidden (more slowly), for the browser notification.
  function watchInbox(toasts) {
    let after = Number(toasts.dataset.inboxAfter);
    async function poll() {
      const response = await fetch(toasts.dataset.inbox + "?after=" + after, {credentials: "same-origin"});
      if (!response.ok) return;
      const news = await response.json();
      showUnread(news.unread);
      news.incoming.forEach(function (sms) {
        if (isShownHere(sms)) return;  // the open conversation shows it
        toast(toasts, sms);
        if (firstTabToTell(sms.id)) { beep(); notify(toasts, sms); }
      });
      after = Math.max(after, news.last_id);
    }
    (function next() {
      setTimeout(async function () {
        try { await poll(); } catch (error) { /* the next round tries again */ }
        next();
      }, document.hidden ? POLL_MS * 4 : POLL_MS);
    })();
  }

  function notificationSettings(section) {
    section.hidden = false;
    const sound = section.querySelector("[data-sound-setting]");
    sound.checked = soundOn();
    sound.addEventListener("change", function () { store(SOUND_KEY, sound.checked ? "on" : "off"); if (sound.checked) beep(); });
    const permission = section.querySelector("[data-notification-permission]");
    if (!("Notification" in window)) { permission.hidden = true; return; }
    const show = function () {
      section.querySelector("[data-ask-notifications]").hidden = Notification.permission !== "default";
      section.querySelector("[data-notifications-on]").hidden = Notification.permission !== "granted";
      section.querySelector("[data-notifications-blocked]").hidden = Notification.permission !== "denied";
    };
    section.querySelector("[data-ask-notifications]").addEventListener("click", function () {
      Notification.requestPermission().then(show);
    });
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-inbox]").forEach(watchInbox);
    document.querySelectorAll("[data-notification-settings]").forEach(notificationSettings);
    document.querySelectorAll("[data-live-statuses]").forEach(function (container) {
      every(POLL_MS, () => refreshStatuses(container));
    });
    document.querySelectorAll("[data-new-rows]").forEach(function (container) {
      every(POLL_MS, () => fetchNewRows(container));
    });
    document.querySelectorAll("[data-refresh]").forEach(function (container) {
      every(Number(container.dataset.refreshMs) || POLL_MS * 2, async function () {
        if (container.querySelector("[data-refresh-done]")) return;  // what it shows no longer changes
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
