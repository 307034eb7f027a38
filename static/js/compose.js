// The live SMS counter. Same rules as webapp/sms_text.py: GSM-7 160/153, UCS-2 70/67,
// GSM-7 extension characters cost two.
(function () {
  "use strict";
  const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const EXTENSION = "\f^{}\\[~]|€";

  function cost(text) {
    const chars = Array.from(text);
    const gsm = chars.every((ch) => BASIC.includes(ch) || EXTENSION.includes(ch));
    const length = gsm
      ? chars.reduce((sum, ch) => sum + (EXTENSION.includes(ch) ? 2 : 1), 0)
      : text.length; // UTF-16 code units, as UCS-2 counts them
    const single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    const segments = length === 0 ? 0 : length <= single ? 1 : Math.ceil(length / part);
    return {encoding: gsm ? "GSM-7" : "UCS-2", length: length, segments: segments};
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-sms-text]").forEach(function (textarea) {
      const counter = textarea.form.querySelector("[data-sms-counter]");
      const update = function () {
        const c = cost(textarea.value.replace(/\r\n/g, "\n"));
        counter.textContent = counter.dataset.template
          .replace("%(chars)s", c.length).replace("%(encoding)s", c.encoding).replace("%(segments)s", c.segments);
      };
      textarea.addEventListener("input", update);
      update();
    });
  });
})();
