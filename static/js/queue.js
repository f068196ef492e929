/* The send-today queue (今日待发): copy buttons and keys, one card at a time.
 *
 *   j / ↓   next card          k / ↑   previous card
 *   c       copy the card's text
 *   Enter   "Copied & sent"    s       skip
 *
 * The buttons are plain forms (htmx swaps the card for a one-line note), so the page works without this file.
 */
(function () {
  "use strict";

  var queue = document.querySelector("[data-queue]");
  if (!queue) return;

  var lang = (document.documentElement.lang || "").toLowerCase();
  var zh = lang.indexOf("zh") === 0;
  var TEXT = {
    copied: zh ? "已复制" : "Copied",
    pressToCopy: zh ? "已全选：按 Ctrl+C（Mac 按 ⌘C）复制" : "Selected: press Ctrl+C (⌘C on a Mac) to copy",
  };

  function cards() {
    return Array.prototype.slice.call(queue.querySelectorAll("[data-card]"));
  }

  function current() {
    var active = document.activeElement;
    var card = active && active.closest ? active.closest("[data-card]") : null;
    return card || queue.querySelector("[data-card].is-current") || cards()[0] || null;
  }

  function focusCard(card) {
    if (!card) return;
    cards().forEach(function (other) { other.classList.toggle("is-current", other === card); });
    card.focus({ preventScroll: true });
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function move(step) {
    var all = cards();
    if (!all.length) return;
    var active = document.activeElement;
    if (!(active && active.closest && active.closest("[data-card]"))) {
      // Nothing focused yet (or the focus is elsewhere on the page): the first key lands on the current card.
      focusCard(current());
      return;
    }
    var index = all.indexOf(current());
    var next = index < 0 ? 0 : Math.min(all.length - 1, Math.max(0, index + step));
    focusCard(all[next]);
  }

  function showStatus(card, text) {
    var status = card.querySelector(".copy-status");
    if (!status) return;
    status.textContent = text;
    clearTimeout(status._timer);
    status._timer = setTimeout(function () { status.textContent = ""; }, 4000);
  }

  function selectAll(source) {
    source.focus();
    source.select();
    source.setSelectionRange(0, source.value.length);
  }

  function copyFallback(card, source) {
    // No clipboard API (a page served over plain http, an old browser): select the text and try the old way;
    // if that fails too, the text stays selected for Ctrl+C.
    selectAll(source);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
    showStatus(card, ok ? TEXT.copied : TEXT.pressToCopy);
  }

  function copy(card) {
    var source = card && card.querySelector("[data-copy-source]");
    if (!source) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(
        function () { showStatus(card, TEXT.copied); },
        function () { copyFallback(card, source); }
      );
    } else {
      copyFallback(card, source);
    }
  }

  function mark(card, status) {
    var button = card && card.querySelector('[data-mark="' + status + '"]');
    if (!button || button.disabled) return;
    button.click();  // each button has its own form (the status is a hidden field), which htmx submits
  }

  queue.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) copy(button.closest("[data-card]"));
  });

  queue.addEventListener("focusin", function (event) {
    var card = event.target.closest("[data-card]");
    if (card) cards().forEach(function (other) { other.classList.toggle("is-current", other === card); });
  });

  function typing(target) {
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "SELECT") return true;
    if (tag === "TEXTAREA" || tag === "INPUT") return !target.readOnly;
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    if (key === "j" || key === "ArrowDown") { event.preventDefault(); move(1); }
    else if (key === "k" || key === "ArrowUp") { event.preventDefault(); move(-1); }
    else if (key === "c") { event.preventDefault(); copy(current()); }
    else if (key === "s") { event.preventDefault(); mark(current(), "skipped"); }
    else if (key === "Enter") {
      // Enter on a link or a button does what it always does.
      if (event.target.closest("a, button")) return;
      event.preventDefault();
      mark(current(), "sent");
    }
  });

  // Once a card is swapped for its one-line note, the next card waiting takes the focus.
  var after = null;
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var card = event.target.closest && event.target.closest("[data-card]");
    if (card) after = card.id;
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    if (!after) return;
    var done = document.getElementById(after);
    after = null;
    if (!done) return;
    var next = done.nextElementSibling;
    while (next && !next.matches("[data-card]")) next = next.nextElementSibling;
    if (!next) {
      var all = cards();
      next = all[all.length - 1];
    }
    if (next) focusCard(next); else done.focus && done.focus();
  });

  // Start on the first card, so the keys work at once.
  if (!queue.contains(document.activeElement)) {
    var first = cards()[0];
    if (first) first.classList.add("is-current");
  }
})();
