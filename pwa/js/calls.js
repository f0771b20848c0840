// Calls, e-mails and meetings on the page: the "log the call" sheet, the timeline's filter
// offline, and the visit form's fields by kind.
//
// - Briefing: a tap on a phone number (a `tel:` link) is remembered in sessionStorage, with
//   the contact and the time. When the rep comes back to the app (the page turns visible
//   again, or opens anew), the server's "log the call" sheet (#call-sheet) opens, filled in
//   with the call, so that one tap saves it. It posts like the visit form, so offline the
//   outbox (offline.js) keeps it as a `visit.create`.
// - Briefing: the timeline's filter chips ask the server (a link, or htmx); a page kept on the
//   phone has no copy per filter, so offline the chips hide the other kinds' rows instead.
// - Visit form: the subject shows for e-mails and meetings (required for an e-mail), and the
//   outcomes offered follow the kind.
// Loaded with `defer` after offline.js on the briefing and on the visit form.

(function () {
  "use strict";

  const TAP_KEY = "fieldcrm:call-tap";
  const TAP_MAX_AGE_MS = 2 * 60 * 60 * 1000;
  const keptAt = document.querySelector('meta[name="fieldcrm-kept-at"]')?.content || null;

  // -- the call sheet -------------------------------------------------------------------------

  const sheet = document.querySelector("[data-call-sheet]");

  function remember(link) {
    const tap = {
      path: location.pathname,
      contact: link.dataset.callContact || "",
      name: link.dataset.callName || "",
      number: link.dataset.callNumber || link.getAttribute("href").slice(4),
      at: Date.now(),
    };
    try {
      sessionStorage.setItem(TAP_KEY, JSON.stringify(tap));
    } catch {
      // storage refused (private mode): the call can still be logged from the timeline
    }
  }

  function takeTap() {
    let tap = null;
    try {
      tap = JSON.parse(sessionStorage.getItem(TAP_KEY) || "null");
    } catch {
      tap = null;
    }
    if (!tap || tap.path !== location.pathname) return null;
    sessionStorage.removeItem(TAP_KEY);
    return Date.now() - tap.at < TAP_MAX_AGE_MS ? tap : null;
  }

  // A moment as a datetime-local value in the rep's own time zone (the server reads a time
  // without offset in that zone), whatever zone the phone is set to.
  function localValue(moment, zone) {
    const options = {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    };
    let parts;
    try {
      parts = new Intl.DateTimeFormat("en-CA", { ...options, timeZone: zone }).formatToParts(moment);
    } catch {
      parts = new Intl.DateTimeFormat("en-CA", options).formatToParts(moment);
    }
    const p = Object.fromEntries(parts.map((part) => [part.type, part.value]));
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }

  function openSheet(tap) {
    const form = sheet.querySelector("form");
    if (!form) return;
    const field = (name) => form.querySelector(`[name="${name}"]`);
    if (field("id")) field("id").value = crypto.randomUUID();
    if (field("occurred_at")) field("occurred_at").value = localValue(new Date(tap.at), sheet.dataset.timeZone);
    const contact = field("contact_id");
    if (contact) contact.value = [...contact.options].some((o) => o.value === tap.contact) ? tap.contact : "";
    const to = sheet.querySelector("[data-call-to]");
    if (to) to.textContent = [tap.name, tap.number].filter(Boolean).join(" · ");
    if (!sheet.open) sheet.showModal();
  }

  function comeBack() {
    if (document.visibilityState !== "visible") return;
    const tap = takeTap();
    if (tap) openSheet(tap);
  }

  if (sheet) {
    document.addEventListener("click", (event) => {
      const link = event.target.closest?.('a[href^="tel:"]');
      if (link) remember(link);
      if (event.target.closest?.("[data-call-dismiss]")) sheet.close();
    });
    document.addEventListener("visibilitychange", comeBack);
    window.addEventListener("pageshow", comeBack);
    comeBack();
  }

  // -- the timeline's filter, offline -----------------------------------------------------------

  function filterRows(chip) {
    const timeline = chip.closest("[data-timeline]");
    const kind = chip.dataset.kindFilter;
    let shown = 0;
    for (const row of timeline.querySelectorAll("[data-kind]")) {
      row.hidden = Boolean(kind) && row.dataset.kind !== kind;
      if (!row.hidden) shown += 1;
    }
    for (const other of timeline.querySelectorAll("[data-kind-filter]")) {
      if (other === chip) other.setAttribute("aria-current", "true");
      else other.removeAttribute("aria-current");
    }
    const empty = timeline.querySelector("[data-timeline-empty]");
    if (empty) empty.hidden = shown > 0;
  }

  document.addEventListener(
    "click",
    (event) => {
      const chip = event.target.closest?.("[data-kind-filter]");
      if (!chip || (navigator.onLine && !keptAt)) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      filterRows(chip);
    },
    true,
  );
  // The network went while asking: filter what the page has.
  document.addEventListener("htmx:sendError", (event) => {
    const chip = event.detail.elt?.closest?.("[data-kind-filter]");
    if (chip) filterRows(chip);
  });

  // -- the visit form's fields by kind --------------------------------------------------------

  function followKind(form) {
    const kind = form.querySelector('input[name="kind"]:checked')?.value || "visit";
    for (const part of form.querySelectorAll("[data-kinds]")) {
      const fits = part.dataset.kinds.split(" ").includes(kind);
      if (part.tagName === "OPTGROUP") {
        part.disabled = !fits;
        if (!fits && part.querySelector("option:checked")) form.querySelector('select[name="outcome"]').value = "";
      } else {
        part.hidden = !fits;
      }
    }
    const subject = form.querySelector('input[name="subject"]');
    if (subject) subject.required = kind === "email";
  }

  function watchKindForms(root) {
    for (const form of root.querySelectorAll?.("[data-kind-form]") ?? []) {
      if (form.dataset.kindWatched) continue;
      form.dataset.kindWatched = "1";
      const asked = new URL(location.href).searchParams.get("kind");
      const radio = asked && form.querySelector(`input[name="kind"][value="${CSS.escape(asked)}"]`);
      if (radio && !form.querySelector('[aria-invalid="true"]')) radio.checked = true;
      form.addEventListener("change", (event) => {
        if (event.target.name === "kind") followKind(form);
      });
      followKind(form);
    }
  }

  watchKindForms(document);
  document.addEventListener("htmx:load", (event) => watchKindForms(event.detail.elt.parentElement || document));
})();
