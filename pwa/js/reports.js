// The 日報 form's draft, kept on this phone per user and day (localStorage), so a half-typed
// report survives closing the page, a reload, or a kept copy opened offline.
//
// - Every keystroke saves the four texts with the time they were saved.
// - On load, a draft newer than the report the page shows is put back into the form (and the
//   page says so); a draft the shown report already holds is forgotten.
// - Offline the form goes through the outbox (offline.js, `daily_report.submit`); it then
//   tells this script (`fieldcrm:queued`), which keeps the draft marked as sent, so a reload
//   before the network returns still shows what is waiting, and says that it waits.
// Loaded with `defer` on the report page.

(function () {
  "use strict";

  const FIELDS = ["activities", "reflections", "issues", "plan"];
  const SELECTOR = "form[data-report-draft]";
  const keyOf = (form) => `fieldcrm:report-draft:${form.dataset.reportDraft}`;

  function read(form) {
    try {
      return JSON.parse(localStorage.getItem(keyOf(form)) || "null");
    } catch {
      return null;
    }
  }

  function save(form, extra = {}) {
    const values = Object.fromEntries(FIELDS.map((name) => [name, form.elements[name]?.value ?? ""]));
    const draft = { values, saved_at: new Date().toISOString(), ...extra };
    try {
      localStorage.setItem(keyOf(form), JSON.stringify(draft));
    } catch {
      // storage full or refused: the form itself still holds the text
    }
  }

  function say(form, message) {
    const status = document.getElementById("report-draft-status");
    if (status && message) status.textContent = message;
  }

  function restore(form) {
    const draft = read(form);
    if (!draft || typeof draft.values !== "object") return;
    const shown = form.dataset.updatedAt;
    if (shown && new Date(draft.saved_at) <= new Date(shown)) {
      localStorage.removeItem(keyOf(form));
      return;
    }
    let changed = false;
    for (const name of FIELDS) {
      const field = form.elements[name];
      const value = draft.values[name];
      if (field && typeof value === "string" && field.value !== value) {
        field.value = value;
        changed = true;
      }
    }
    if (draft.queued) {
      say(form, form.dataset.queued);
      form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = true));
    } else if (changed) say(form, form.dataset.restored);
  }

  document.addEventListener("input", (event) => {
    const form = event.target.closest?.(SELECTOR);
    if (form) save(form);
  });

  document.addEventListener("fieldcrm:queued", (event) => {
    const form = event.target.closest?.(SELECTOR);
    if (!form) return;
    event.preventDefault();
    save(form, { queued: true });
    say(form, form.dataset.queued);
    form.querySelectorAll("button[type=submit]").forEach((button) => (button.disabled = true));
  });

  // A form swapped in by htmx (refused, shown again) keeps the typed text, which is the draft.
  document.addEventListener("htmx:afterSwap", () => document.querySelectorAll(SELECTOR).forEach((form) => save(form)));

  document.querySelectorAll(SELECTOR).forEach(restore);
})();
