// The counter under a message's text area (templates/messages/_text_counter.html). It counts as
// webapp/sms_text.text_cost does and replaces as sms_text.plain_text does, with the rules and the
// table the server sends (sms_text.counter_rules): this file holds no copy of them.
(function () {
  "use strict";
  const LANG = document.documentElement.lang || "en";
  const SHOWN_AT_MOST = 12; // characters listed in a sentence; more are "…"
  const NEAR_THE_LIMIT = 20; // characters left from which "N characters left" is said, once
  const SAID_AFTER_MS = 600; // a change worth saying is said once typing pauses
  const numbers = new Intl.NumberFormat(LANG);
  const plurals = new Intl.PluralRules(LANG);
  const lists = Intl.ListFormat ? new Intl.ListFormat(LANG, {type: "conjunction"}) : null;
  const loaded = {};

  function rulesAt(url) {
    if (!loaded[url]) {
      loaded[url] = fetch(url, {credentials: "same-origin"}).then(function (response) {
        if (!response.ok) throw new Error("the counting rules did not load: HTTP " + response.status);
        return response.json();
      });
    }
    return loaded[url];
  }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? values[name] : whole));
  }

  function plural(forms, count) {
    return plurals.select(count) === "one" ? forms[0] : forms[1];
  }

  // An invisible character (a no-break space, a tab) is named by its code: U+00A0.
  function shown(character) {
    if (/[\p{Z}\p{C}]/u.test(character)) {
      return "U+" + character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    }
    return character;
  }

  function listed(characters) {
    const names = characters.slice(0, SHOWN_AT_MOST).map(shown);
    if (characters.length > SHOWN_AT_MOST) names.push("…");
    return lists ? lists.format(names) : names.join(", ");
  }

  function unique(characters) {
    return Array.from(new Set(characters));
  }

  function Rules(data) {
    this.basic = new Set(Array.from(data.basic));
    this.extension = new Set(Array.from(data.extension));
    this.single = data.single;
    this.multipart = data.multipart;
    this.plain = data.plain;
  }

  Rules.prototype.isGsm = function (character) {
    return this.basic.has(character) || this.extension.has(character);
  };

  // sms_text.text_cost: GSM-7 septets (extension characters two), else UTF-16 code units.
  Rules.prototype.cost = function (text) {
    const characters = Array.from(text);
    const gsm = characters.every((character) => this.isGsm(character));
    const encoding = gsm ? "GSM-7" : "UCS-2";
    const length = gsm ? characters.reduce((sum, character) => sum + (this.extension.has(character) ? 2 : 1), 0)
      : text.length;
    const segments = length === 0 ? 0
      : length <= this.single[encoding] ? 1 : Math.ceil(length / this.multipart[encoding]);
    const doubles = gsm ? characters.filter((character) => this.extension.has(character))
      : characters.filter((character) => character.codePointAt(0) > 0xFFFF);
    return {encoding: encoding, length: length, segments: segments, doubles: unique(doubles),
            outside: unique(characters.filter((character) => !this.isGsm(character)))};
  };

  // sms_text.plain_text
  Rules.prototype.plainText = function (text) {
    return Array.from(text).map((character) => (character in this.plain ? this.plain[character] : character)).join("");
  };

  function Counter(box, rules) {
    this.box = box;
    this.rules = rules;
    this.form = box.closest("form");
    this.textarea = this.form.querySelector("[data-sms-text]");
    this.phone = this.form.querySelector("select[name=phone_id]");
    this.limits = JSON.parse(box.dataset.limits);
    this.words = JSON.parse(box.dataset.words);
    this.part = (name) => box.querySelector("[data-" + name + "]");
    // the server's refusal of the text as posted says what the live sentence would: shown alone
    // until the text changes, then replaced by the live one
    this.refusals = Array.from(this.textarea.closest(".field").querySelectorAll(".error"));
    this.textarea.addEventListener("input", () => {
      this.refusals.forEach((refusal) => refusal.remove());
      this.refusals = [];
      this.update();
    });
    if (this.phone) this.phone.addEventListener("change", () => this.update());
    this.part("plain-offer").addEventListener("click", () => this.showPreview(true));
    this.part("plain-cancel").addEventListener("click", () => this.showPreview(false));
    this.part("plain-apply").addEventListener("click", () => this.apply());
    this.update();
    this.stageSaid = this.stage(this.rules.cost(this.textarea.value));  // what the page says at first is not said
    this.encodingSaid = this.rules.cost(this.textarea.value).encoding;
  }

  // What a screen reader hears about: the number of SMS, the encoding, being near or over the limit.
  Counter.prototype.stage = function (cost) {
    const left = this.limit().limit - cost.length;
    return [cost.segments, cost.encoding, left < 0, left <= NEAR_THE_LIMIT].join(" ");
  };

  Counter.prototype.sayWhenPaused = function (cost) {
    clearTimeout(this.sayTimer);
    if (this.stageSaid === undefined || this.stage(cost) === this.stageSaid) return;
    this.sayTimer = setTimeout(() => this.sayCount(), SAID_AFTER_MS);
  };

  Counter.prototype.sayCount = function () {
    const cost = this.rules.cost(this.textarea.value);
    const limit = this.limit();
    const left = limit.limit - cost.length;
    const words = [];
    if (left < 0) {
      words.push(fill(this.words.too_long, {provider: limit.provider, limit: numbers.format(limit.limit),
                                            over: numbers.format(-left)}));
    } else {
      words.push(this.countLine(cost));
      if (left <= NEAR_THE_LIMIT) words.push(fill(plural(this.words.remaining, left), {left: numbers.format(left)}));
    }
    if (cost.encoding !== this.encodingSaid && cost.outside.length > 0) {
      words.push(fill(plural(this.words.unicode, cost.outside.length), {chars: listed(cost.outside)}));
    }
    this.stageSaid = this.stage(cost);
    this.encodingSaid = cost.encoding;
    this.part("count-said").textContent = words.join(". ");
  };

  Counter.prototype.limit = function () {
    const chosen = this.phone && this.limits[this.phone.value];
    return chosen || Object.values(this.limits)[0] || {limit: Infinity, provider: ""};
  };

  Counter.prototype.countLine = function (cost) {
    return fill(this.words.count, {chars: numbers.format(cost.length), limit: numbers.format(this.limit().limit),
                                   segments: numbers.format(cost.segments)});
  };

  Counter.prototype.say = function (name, text) {
    const part = this.part(name);
    part.hidden = !text;
    part.textContent = text || "";
  };

  Counter.prototype.update = function () {
    const text = this.textarea.value;
    const cost = this.rules.cost(text);
    const limit = this.limit();
    const count = this.part("count");
    count.textContent = this.countLine(cost);
    count.dataset.length = cost.length;
    count.dataset.segments = cost.segments;
    count.classList.toggle("over", cost.length > limit.limit);
    this.say("too-long", cost.length > limit.limit && this.refusals.length === 0 && fill(this.words.too_long, {
      provider: limit.provider, limit: numbers.format(limit.limit), over: numbers.format(cost.length - limit.limit)}));
    this.say("unicode", cost.outside.length > 0 &&
             fill(plural(this.words.unicode, cost.outside.length), {chars: listed(cost.outside)}));
    this.say("doubles", cost.doubles.length > 0 &&
             fill(plural(this.words.doubles, cost.doubles.length), {chars: listed(cost.doubles)}));
    const replaceable = cost.outside.some((character) => character in this.rules.plain);
    const preview = this.part("plain-preview");
    if (!replaceable) preview.hidden = true;
    this.part("plain-offer").hidden = !replaceable || !preview.hidden;
    if (!preview.hidden) this.preview();
    this.sayWhenPaused(cost);
  };

  Counter.prototype.preview = function () {
    const text = this.textarea.value;
    const plain = this.rules.plainText(text);
    const cost = this.rules.cost(plain);
    this.part("plain-text").textContent = plain;
    const count = this.part("plain-count");
    count.textContent = this.countLine(cost);
    count.classList.toggle("over", cost.length > this.limit().limit);
    const changes = unique(Array.from(text).filter((character) => character in this.rules.plain))
      .map((character) => shown(character) + " → " + (this.rules.plain[character] || "∅"));
    this.say("plain-changes", fill(this.words.changes, {changes: changes.join(" · ")}));
    this.say("plain-left", cost.outside.length > 0 &&
             fill(plural(this.words.left, cost.outside.length), {chars: listed(cost.outside)}));
  };

  Counter.prototype.showPreview = function (open) {
    this.part("plain-preview").hidden = !open;
    this.update();
  };

  Counter.prototype.apply = function () {
    this.textarea.value = this.rules.plainText(this.textarea.value);
    this.textarea.dispatchEvent(new Event("input"));
    this.showPreview(false);
    this.textarea.focus();
  };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-text-counter]").forEach(function (box) {
      rulesAt(box.dataset.rulesUrl).then((data) => new Counter(box, new Rules(data)));
    });
  });
})();
