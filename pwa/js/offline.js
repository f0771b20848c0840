// Working without a network: the service worker, the briefcase and the outbox, page side.
//
// - Registers /sw.js, tells it who is logged in, and asks it to refresh the briefcase after
//   login and every REFRESH_MS.
// - Forms that change a record still work offline (or when the save never reaches the server): the browser checks the field rules (the
//   constraint attributes the server renders), the form is stored as a mutation in the outbox
//   (pwa/js/outbox.js) and shown at once as "waiting to sync" with the server's <template>s.
// - The outbox is sent on start, when the network returns, on the `sync` event and from the
//   "Sync now" button; refused and conflicting changes, and those the server kept failing on,
//   wait on /outbox for the rep.
// - Offline, search looks through the accounts kept on the phone.
// Loaded with `defer` on every page after login, after htmx and outbox.js. The search folding
// (fold.js) is loaded the first time the kept accounts are searched, not on every first load.

(function () {
  "use strict";

  const user = document.querySelector('meta[name="fieldcrm-user"]')?.content || null;
  const keptAt = document.querySelector('meta[name="fieldcrm-kept-at"]')?.content || null;
  const isShell = Boolean(document.querySelector('meta[name="fieldcrm-shell"]'));
  const text = document.getElementById("offline-text")?.dataset ?? {};
  const Outbox = self.FieldOutbox;
  const REFRESH_MS = 15 * 60 * 1000;
  const PRIME_DELAY_MS = 1500;
  const OLD_MS = 24 * 60 * 60 * 1000;
  const UUID = "[0-9a-f-]{36}";
  // Form actions that make a change, and the mutation each stands for.
  const ROUTES = [
    [new RegExp(`^/accounts$`), "account.create", (m, form) => ({ entity: form.id })],
    [new RegExp(`^/accounts/(${UUID})$`), "account.update", (m) => ({ entity: m[1], account: m[1] })],
    [new RegExp(`^/accounts/(${UUID})/contacts$`), "contact.create", (m, form) => ({ entity: form.id, account: m[1] })],
    [new RegExp(`^/accounts/(${UUID})/contacts/(${UUID})$`), "contact.update", (m) => ({ entity: m[2], account: m[1] })],
    [new RegExp(`^/accounts/(${UUID})/visits$`), "visit.create", (m, form) => ({ entity: form.id, account: m[1] })],
    [new RegExp(`^/tasks$`), "task.create", (m, form) => ({ entity: form.id, account: form.account_id })],
    [new RegExp(`^/tasks/(${UUID})/complete$`), "task.complete", (m) => ({ entity: m[1] })],
    [new RegExp(`^/tasks/(${UUID})/snooze$`), "task.snooze", (m) => ({ entity: m[1] })],
    [new RegExp(`^/tasks/(${UUID})/reschedule$`), "task.update", (m) => ({ entity: m[1] })],
    [new RegExp(`^/deals$`), "deal.create", (m, form) => ({ entity: form.id, account: form.account_id })],
    [new RegExp(`^/deals/(${UUID})$`), "deal.update", (m) => ({ entity: m[1] })],
    [new RegExp(`^/deals/(${UUID})/stage$`), "deal.stage", (m) => ({ entity: m[1] })],
    [/^\/reports\/daily\/(\d{4}-\d{2}-\d{2})$/, "daily_report.submit", (m, form) => ({ entity: form.id })],
  ];

  const format = (template, values) =>
    (template || "").replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  const localTime = (moment) =>
    new Date(moment).toLocaleString(document.documentElement.lang || undefined, {
      dateStyle: "short",
      timeStyle: "short",
    });

  function stamp(id, slots = {}) {
    const node = document.getElementById(id).content.firstElementChild.cloneNode(true);
    for (const [slot, value] of Object.entries(slots)) {
      const target = node.querySelector(`[data-slot="${slot}"]`);
      if (target) target.textContent = value;
    }
    return node;
  }

  // -- the service worker ---------------------------------------------------------------------

  function tellWorker(message) {
    return new Promise((resolve) => {
      const worker = navigator.serviceWorker?.controller;
      if (!worker) return resolve(null);
      const listener = (event) => {
        if (event.data?.type !== `${message.type}:done`) return;
        navigator.serviceWorker.removeEventListener("message", listener);
        resolve(event.data);
      };
      navigator.serviceWorker.addEventListener("message", listener);
      worker.postMessage(message);
    });
  }

  async function refreshBriefcase({ force = false } = {}) {
    if (!user || !navigator.onLine) return null;
    const last = await Outbox.getMeta(`briefcase:${user}`);
    if (!force && last && Date.now() - last.at < REFRESH_MS) return null;
    document.documentElement.dataset.briefcase = "refreshing";
    const answer = await tellWorker({ type: "prime", user });
    document.documentElement.dataset.briefcase = answer?.state ?? "unavailable";
    return answer;
  }

  async function startWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data?.type === "replayed") showOutbox();
    });
    await navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" });
    const registration = await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      const controlled = new Promise((resolve) =>
        navigator.serviceWorker.addEventListener("controllerchange", resolve, { once: true }),
      );
      // Opened while the worker was activating, this page can miss the worker's claim.
      registration.active?.postMessage({ type: "claim" });
      await controlled;
    }
    if (!user) return;
    await tellWorker({ type: "user", user });
    navigator.storage?.persist?.();
    // Let the page the rep opened finish first; the briefcase is background work.
    await new Promise((resolve) => setTimeout(resolve, PRIME_DELAY_MS));
    await refreshBriefcase();
  }

  // -- queuing a form -------------------------------------------------------------------------

  function formValues(form, submitter) {
    const values = {};
    for (const [name, value] of new FormData(form, submitter)) {
      if (typeof value !== "string" || name === "csrf_token") continue;
      (values[name] ??= []).push(value);
    }
    return values;
  }

  function mutationFor(form, submitter) {
    const path = new URL(form.action, location.href).pathname;
    for (const [pattern, type, parts] of ROUTES) {
      const match = path.match(pattern);
      if (!match) continue;
      const values = formValues(form, submitter);
      const first = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.at(-1)]));
      const { entity, account } = parts(match, first);
      if (!entity) return null;
      const version = Number.parseInt(first.version ?? "", 10);
      return {
        type,
        entity_id: entity,
        base_version: Number.isInteger(version) ? version : null,
        payload: ["visit.create", "contact.create"].includes(type) ? { account_id: account } : {},
        form: values,
        account_id: account ?? null,
        url: location.pathname + location.search,
        label: labelOf(form, first),
      };
    }
    return null;
  }

  function labelOf(form, values) {
    const heading = document.querySelector("h1")?.textContent.trim() ?? "";
    const detail = values.name || values.title || values.notes || form.closest("li")?.querySelector("strong")?.textContent || "";
    return [heading, detail.trim().slice(0, 60)].filter(Boolean).join(" · ");
  }

  let foldLoading = null;

  // fold.js (FieldFold), from the service worker's cache when offline.
  function loadFold() {
    foldLoading ??= new Promise((resolve, reject) => {
      if (self.FieldFold) return resolve(self.FieldFold);
      const script = document.createElement("script");
      script.src = document.querySelector('meta[name="fieldcrm-fold"]').content;
      script.onload = () => resolve(self.FieldFold);
      script.onerror = () => {
        foldLoading = null;
        reject(new Error("fold.js could not be loaded"));
      };
      document.head.append(script);
    });
    return foldLoading;
  }

  async function likelyDuplicates(values) {
    const key = (await loadFold()).fold(values.name || "");
    const phones = ["phone", "mobile"].map((n) => (values[n] || "").replace(/\D/g, "")).filter(Boolean);
    const kept = await Outbox.accounts(user);
    return kept.filter(
      (item) =>
        (key && item.search_key.split("\n")[0] === key) ||
        phones.some((p) => item.phones.some((q) => q.endsWith(p.replace(/^0/, "")))),
    );
  }

  async function queue(form, submitter) {
    const mutation = mutationFor(form, submitter);
    if (!mutation) return false;
    if (!form.checkValidity()) {
      form.reportValidity();
      return true;
    }
    if (mutation.type === "account.create" && !form.dataset.duplicatesChecked) {
      const found = await likelyDuplicates(Object.fromEntries(Object.entries(mutation.form).map(([k, v]) => [k, v.at(-1)])));
      if (found.length && !confirm(format(text.duplicates, { names: found.map((i) => i.account.name).join("、") }))) {
        return true;
      }
    }
    await Outbox.enqueue(user, mutation);
    const move = mutation.type === "visit.create" ? dealMoveOf(form, mutation) : null;
    if (move) await Outbox.enqueue(user, move);
    const correcting = new URL(location.href).searchParams.get("outbox");
    if (correcting) await dropEntry(correcting);
    const registration = await navigator.serviceWorker?.ready;
    await registration?.sync?.register("outbox").catch(() => null);
    afterQueued(form, mutation);
    return true;
  }

  // A visit that moves its deal on: the move is a change of the deal's own, queued after the
  // visit, based on the deal's version as the form showed it.
  function dealMoveOf(form, visit) {
    const values = visit.form;
    const deal = values.deal_id?.at(-1);
    const stage = values.deal_stage_id?.at(-1);
    if (!deal || !stage) return null;
    const version = Number.parseInt(values[`deal_version.${deal}`]?.at(-1) ?? "", 10);
    const stageName = form.querySelector(`select[name="deal_stage_id"] option[value="${CSS.escape(stage)}"]`)?.textContent ?? "";
    const dealName = form.querySelector(`select[name="deal_id"] option[value="${CSS.escape(deal)}"]`)?.textContent ?? "";
    return {
      type: "deal.stage",
      entity_id: deal,
      base_version: Number.isInteger(version) ? version : null,
      payload: {},
      form: { stage_id: [stage] },
      account_id: visit.account_id,
      url: visit.url,
      label: [dealName, `→ ${stageName}`].filter(Boolean).join(" "),
    };
  }

  function afterQueued(form, mutation) {
    // A page that shows the queued change itself says so by cancelling this event.
    if (!form.dispatchEvent(new CustomEvent("fieldcrm:queued", { bubbles: true, cancelable: true, detail: mutation }))) return showOutbox();
    if (mutation.type === "deal.stage") {
      if (form.dataset.ahead) movedDeal(form);
      else {
        // The deal's own page: the move waits, and the page says so.
        form.prepend(stamp("tpl-pending", { label: "", time: "" }).querySelector(".badge"));
        form.querySelectorAll("button").forEach((b) => (b.disabled = true));
      }
      showOutbox();
      return;
    }
    const row = form.closest("li");
    if (mutation.type.startsWith("task.") && mutation.type !== "task.create" && row) {
      row.classList.add("pending");
      row.prepend(stamp("tpl-pending", { label: "", time: "" }).querySelector(".badge"));
      form.querySelectorAll("button").forEach((b) => (b.disabled = true));
      showOutbox();
      return;
    }
    const back =
      mutation.account_id && mutation.type !== "account.create"
        ? `/accounts/${mutation.account_id}`
        : mutation.type === "task.create"
          ? "/tasks"
          : "/search";
    location.assign(back);
  }

  // A queued move shows at once: the deal takes its new stage (on the board, its column), marked
  // as waiting, and the button offers the stage after it (`data-ahead`, `data-names`).
  function movedDeal(form) {
    const ahead = JSON.parse(form.dataset.ahead || "[]");
    const names = JSON.parse(form.dataset.names || "[]");
    const stageInput = form.querySelector('input[name="stage_id"]');
    const index = Math.max(ahead.indexOf(stageInput.value), 0);
    const entered = ahead[index];
    const card = form.closest(".deal-card, .deal-line");
    if (card) {
      card.dataset.stageId = entered;
      card.classList.add("pending");
      if (!card.querySelector(".badge-pending")) card.prepend(stamp("tpl-pending", { label: "", time: "" }).querySelector(".badge"));
      const label = card.querySelector('[data-slot="stage"]');
      if (label) label.textContent = names[index];
      const column = document.querySelector(`.deal-column[data-stage-id="${entered}"] ul`);
      if (column && card.classList.contains("deal-card")) column.append(card);
    }
    const after = index + 1 < ahead.length ? index + 1 : -1;
    const button = form.querySelector("button");
    if (after < 0) {
      form.hidden = true;
      return;
    }
    stageInput.value = ahead[after];
    if (button) button.firstChild.textContent = `→ ${names[after]}`;
  }

  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!user || !(form instanceof HTMLFormElement) || form.method !== "post") return;
      if (new URL(form.action, location.href).pathname === "/logout") return guardLogout(event, form);
      // A correction goes through the outbox even online: it replaces the refused entry.
      const correcting = new URL(location.href).searchParams.has("outbox");
      if ((navigator.onLine && !correcting) || !mutationFor(form, event.submitter)) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      queue(form, event.submitter);
    },
    true,
  );

  // A request that never reached the server (network gone, or hanging) is queued instead.
  for (const failure of ["htmx:sendError", "htmx:timeout"]) {
    document.addEventListener(failure, (event) => {
      const form = event.detail.elt?.closest?.("form");
      if (user && form && event.detail.requestConfig?.verb === "post") queue(form, null);
    });
  }

  // -- logging out ----------------------------------------------------------------------------

  async function guardLogout(event, form) {
    if (form.dataset.confirmed) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const waiting = (await Outbox.entries(user)).length;
    if (waiting && !confirm(format(text.logout, { n: waiting }))) return;
    await tellWorker({ type: "purge", user });
    form.dataset.confirmed = "1";
    form.submit();
  }

  // -- showing the outbox ---------------------------------------------------------------------

  async function showOutbox() {
    if (!user || !document.getElementById("outbox-bar")) return;
    const all = await Outbox.entries(user);
    const queued = all.filter((e) => e.status === "queued");
    const attention = all.filter((e) => e.status !== "queued");
    const bar = document.getElementById("outbox-bar");
    const parts = [];
    if (queued.length) parts.push(format(text.waiting, { n: queued.length }));
    if (attention.length) parts.push(format(text.attention, { n: attention.length }));
    if (await Outbox.getMeta(`login:${user}`)) parts.push(text.login);
    else if (queued.some((e) => Date.now() - e.queued_at > OLD_MS)) parts.push(text.old);
    bar.querySelector('[data-slot="count"]').textContent = parts.join(" · ");
    bar.hidden = parts.length === 0;
    document.body.classList.toggle("has-outbox", !bar.hidden);
    bar.classList.toggle("outbox-warning", attention.length > 0 || parts.includes(text.old));
    showPending(queued);
    if (location.pathname === "/outbox") showOutboxPage(queued, attention);
  }

  function showPending(queued) {
    document.getElementById("pending")?.remove();
    const accountPage = location.pathname.match(new RegExp(`^/accounts/(${UUID})$`));
    const shown = accountPage
      ? queued.filter((e) => e.account_id === accountPage[1])
      : ["/today", "/search", "/tasks"].includes(location.pathname)
        ? queued
        : [];
    if (!shown.length) return;
    const section = stamp("tpl-pending-section");
    const list = section.querySelector('[data-slot="items"]');
    for (const entry of shown) list.append(stamp("tpl-pending", { label: entry.label, time: localTime(entry.queued_at) }));
    document.querySelector("main")?.prepend(section);
  }

  function showOutboxPage(queued, attention) {
    const queuedList = document.getElementById("queued-list");
    const attentionList = document.getElementById("attention-list");
    queuedList.replaceChildren(...queued.map((e) => stamp("tpl-pending", { label: e.label, time: localTime(e.queued_at) })));
    attentionList.replaceChildren(...attention.map(attentionItem));
    for (const list of [queuedList, attentionList]) {
      if (!list.children.length) list.append(Object.assign(document.createElement("li"), { className: "row muted", textContent: list.dataset.empty }));
    }
  }

  function attentionItem(entry) {
    const status = document.getElementById("tpl-status").content.querySelector(`[data-status="${entry.status}"]`);
    const item = stamp("tpl-attention", { status: status?.textContent ?? entry.status, label: entry.label, time: localTime(entry.queued_at) });
    const errors = item.querySelector('[data-slot="errors"]');
    for (const [field, messages] of Object.entries(entry.errors || {})) {
      errors.append(Object.assign(document.createElement("li"), { textContent: `${field}: ${messages.join(" ")}` }));
    }
    errors.hidden = errors.children.length === 0;
    const edit = item.querySelector('[data-slot="edit"]');
    const resolve = item.querySelector('[data-slot="resolve"]');
    if (entry.status === "conflict") {
      edit.hidden = true;
      resolve.hidden = false;
      const choices = item.querySelector('[data-slot="choices"]');
      for (const field of Object.keys(entry.errors || {})) choices.append(choice(entry, field));
      resolve.addEventListener("click", () => resolveConflict(entry, item));
    } else {
      const url = new URL(entry.url, location.href);
      url.searchParams.set("outbox", entry.id);
      edit.href = url.pathname + url.search;
    }
    if (entry.status === "failed") {
      const retry = item.querySelector('[data-slot="retry"]');
      item.querySelector('[data-slot="failed"]').hidden = false;
      retry.hidden = false;
      retry.addEventListener("click", () => sendAgain(entry));
    }
    item.querySelector('[data-slot="discard"]').addEventListener("click", async () => {
      if (confirm(item.querySelector('[data-slot="discard"]').textContent + "?")) {
        await Outbox.remove(entry.seq);
        showOutbox();
      }
    });
    return item;
  }

  function theirs(entry, field) {
    const current = entry.current || {};
    const value = field.startsWith("fields.") ? current.fields?.[field.slice(7)] : current[field];
    return Array.isArray(value) ? value.join(", ") : value ?? "";
  }

  // A value as the rep reads it: a stage by its name.
  function shownValue(field, value) {
    if (field !== "stage_id" || !value) return String(value);
    return document.querySelector(`#stage-names [data-id="${CSS.escape(String(value))}"]`)?.textContent ?? String(value);
  }

  function choice(entry, field) {
    const mine = shownValue(field, (entry.form?.[field] || [""]).at(-1));
    const node = stamp("tpl-choice", { field, mine, theirs: shownValue(field, theirs(entry, field)) });
    for (const input of node.querySelectorAll("input")) input.name = `choose-${entry.id}-${field}`;
    return node;
  }

  // The rep's values where they chose theirs over the server's, as a new change on top of
  // the server's current version.
  async function resolveConflict(entry, item) {
    const form = {};
    for (const field of Object.keys(entry.errors || {})) {
      const picked = item.querySelector(`input[name="choose-${entry.id}-${field}"]:checked`);
      if (picked?.value === "mine") form[field] = entry.form[field];
    }
    const keptFields = Object.keys(entry.form || {}).filter((n) => !(n in entry.errors) && !["original", "version", "csrf_token"].includes(n));
    for (const name of keptFields) form[name] = entry.form[name];
    form.original = [JSON.stringify(JSON.parse(entry.form.original?.[0] || "{}"))];
    const { seq, id, status, errors, current, version, attempts, last_error, ...rest } = entry;
    if (Object.keys(form).length > 1) {
      await Outbox.enqueue(user, { ...rest, form, base_version: version });
    }
    await Outbox.remove(seq);
    await sync();
  }

  // A change the server failed on goes back in the queue, in its place, with its tries anew.
  async function sendAgain(entry) {
    await Outbox.update({ ...entry, status: "queued", attempts: 0 });
    await sync();
  }

  async function dropEntry(id) {
    const entry = (await Outbox.entries(user)).find((e) => e.id === id);
    if (entry) await Outbox.remove(entry.seq);
  }

  // -- sending --------------------------------------------------------------------------------

  async function sync({ force = true } = {}) {
    if (!user) return;
    document.documentElement.dataset.outbox = "sending";
    const result = await Outbox.replay(user, { force });
    document.documentElement.dataset.outbox = result.state;
    await showOutbox();
    if (result.sent) await refreshBriefcase({ force: true });
  }

  document.addEventListener("click", (event) => {
    if (event.target.closest?.('[data-action="sync-now"]')) sync();
  });
  window.addEventListener("online", () => sync());

  // -- pages served from the phone ------------------------------------------------------------

  function markKeptCopy() {
    if (!keptAt) return;
    const note = stamp("tpl-cached-at", { time: localTime(keptAt) });
    note.querySelector("time").dateTime = keptAt;
    document.querySelector("main")?.prepend(note);
    // A kept form still holds the id it was rendered with: every use needs a new one.
    for (const input of document.querySelectorAll('form input[name="id"]')) input.value = crypto.randomUUID();
  }

  function setValues(form, values) {
    for (const [name, value] of Object.entries(values)) {
      const inputs = form.querySelectorAll(`[name="${CSS.escape(name)}"]`);
      const list = Array.isArray(value) ? value.map(String) : [String(value ?? "")];
      for (const input of inputs) {
        if (input.type === "checkbox" || input.type === "radio") input.checked = list.includes(input.value);
        else if (input.multiple) for (const option of input.options) option.selected = list.includes(option.value);
        else if (input.type !== "hidden" || ["version", "original", "account_id"].includes(name)) input.value = list.at(-1);
      }
    }
  }

  async function fillShell() {
    if (!isShell || !user) return;
    const match = location.pathname.match(new RegExp(`^/accounts/(${UUID})(?:/contacts/(${UUID}))?`));
    const accountId = match?.[1] ?? new URL(location.href).searchParams.get("account_id");
    const item = accountId ? await Outbox.account(user, accountId) : null;
    if (!item) return;
    const form = document.querySelector("main form");
    if (!form) return;
    const contacts = form.querySelector('select[name="contact_id"]');
    for (const contact of item.contacts) {
      contacts?.append(new Option(contact.title ? `${contact.name}（${contact.title}）` : contact.name, contact.id));
    }
    const deals = form.querySelector('select[name="deal_id"]');
    for (const deal of (item.deals || []).filter((d) => d.status === "open")) {
      const stage = form.querySelector(`select[name="deal_stage_id"] option[value="${CSS.escape(deal.stage_id)}"]`);
      deals?.append(new Option(stage ? `${deal.title}（${stage.textContent.trim()}）` : deal.title, deal.id));
      deals?.after(Object.assign(document.createElement("input"), { type: "hidden", name: `deal_version.${deal.id}`, value: String(deal.version) }));
    }
    if (deals && deals.options.length > 1) deals.closest("fieldset").hidden = false;
    const editing = match?.[2] ? item.forms.contacts[match[2]] : location.pathname.endsWith("/edit") ? item.forms.account : null;
    if (editing) {
      setValues(form, { ...editing.values, version: editing.version, original: JSON.stringify(editing.values) });
    }
    const kind = new URL(location.href).searchParams.get("kind");
    if (kind) setValues(form, { kind });
  }

  async function fillCorrection() {
    const id = new URL(location.href).searchParams.get("outbox");
    if (!id || !user) return;
    const entry = (await Outbox.entries(user)).find((e) => e.id === id);
    const form = document.querySelector("main form");
    if (!entry || !form) return;
    const { id: _id, csrf_token: _token, ...values } = entry.form;
    setValues(form, values);
  }

  // -- offline search -------------------------------------------------------------------------

  async function searchKept(query) {
    const results = document.getElementById("results");
    if (!results) return;
    const { fold, phoneDigits } = await loadFold();
    const folded = fold(query);
    const digits = phoneDigits(query);
    const national = digits?.startsWith("81") ? `0${digits.slice(2)}` : null;
    const kept = query.trim() ? await Outbox.accounts(user) : [];
    const found = kept.filter(
      (item) =>
        (folded && item.search_key.includes(folded)) ||
        (digits && item.phones.some((p) => p.includes(digits) || (national && p.includes(national)))),
    );
    const list = document.createElement("ul");
    list.className = "list";
    for (const item of found.slice(0, 50)) {
      const { account } = item;
      const row = stamp("tpl-result", {
        name: account.name,
        reading: account.reading ?? "",
        place: `${account.prefecture ?? ""}${account.city ?? ""}`,
      });
      row.querySelector("a").href = item.url;
      list.append(row);
    }
    const status = Object.assign(document.createElement("p"), {
      className: "muted",
      textContent: found.length ? text.offlineSearch : text.noMatch,
    });
    results.replaceChildren(status, list);
  }

  function watchSearch() {
    const box = document.getElementById("q");
    if (!box || !user) return;
    const offlineSearch = () => searchKept(box.value);
    box.addEventListener("htmx:beforeRequest", (event) => {
      if (!navigator.onLine || keptAt) {
        event.preventDefault();
        offlineSearch();
      }
    });
    box.addEventListener("htmx:sendError", offlineSearch);
    box.form?.addEventListener("submit", (event) => {
      if (navigator.onLine && !keptAt) return;
      event.preventDefault();
      offlineSearch();
    });
    const query = new URL(location.href).searchParams.get("q");
    if (keptAt && query) {
      box.value = query;
      offlineSearch();
    }
  }

  // -- start ----------------------------------------------------------------------------------

  markKeptCopy();
  watchSearch();
  Promise.all([fillShell(), fillCorrection()]).catch(() => null);
  if (user) {
    showOutbox();
    if (navigator.onLine) sync({ force: false });
    setInterval(() => refreshBriefcase(), REFRESH_MS);
  }
  startWorker().catch(() => null);
})();
