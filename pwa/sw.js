// FieldCRM's service worker: the app shell, the briefcase of pages, and the outbox replay.
//
// Served at /sw.js by the server, which fills in VERSION (the release) and PRECACHE (this
// release's static files). Pages are network-first with a fall-back to the copy kept on the
// phone after NETWORK_TIMEOUT_MS; static files are cache-first; anything else offline gets
// the offline page. Pages are kept per user ("fieldcrm-pages-<user>") and purged at logout.

const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;
const SHELL_CACHE = `fieldcrm-shell-${VERSION}`;
const PAGES_PREFIX = "fieldcrm-pages-";
const NETWORK_TIMEOUT_MS = 2500;
// Right after the rep saved something, a kept copy is likely older than their own change:
// wait longer for the server before showing one.
const AFTER_WRITE_TIMEOUT_MS = 12000;
const AFTER_WRITE_MS = 30000;
const OFFLINE_URL = "/offline";
const SHELL_ID = "00000000-0000-4000-8000-000000000000";
const SHELL_NAME = "__account_name__";
// Small pages of accounts keep each request short, so the rep's own pages are never held up.
const BRIEFCASE_PAGE_SIZE = 25;
// Pages every rep needs offline besides the accounts' briefings.
const LIST_PAGES = ["/today", "/tasks", "/deals", "/search", "/outbox", "/me", "/accounts/new", "/tasks/new", "/reports/daily"];
// The forms of any account, kept once for the stand-in account (see server/briefcase/shell.py).
const SHELLS = [
  [/^\/accounts\/[0-9a-f-]{36}\/visits\/new$/, `/accounts/${SHELL_ID}/visits/new`],
  [/^\/accounts\/[0-9a-f-]{36}\/edit$/, `/accounts/${SHELL_ID}/edit`],
  [/^\/accounts\/[0-9a-f-]{36}\/contacts\/new$/, `/accounts/${SHELL_ID}/contacts/new`],
  [
    /^\/accounts\/[0-9a-f-]{36}\/contacts\/[0-9a-f-]{36}\/edit$/,
    `/accounts/${SHELL_ID}/contacts/${SHELL_ID}/edit`,
  ],
  [/^\/tasks\/new$/, `/tasks/new?account_id=${SHELL_ID}`],
];
// Pages never kept: they change state or belong to no one.
const NEVER_KEPT = /^\/(login|logout|admin|api|sw\.js|healthz)/;

importScripts(PRECACHE.find((url) => url.startsWith("/static/js/outbox.js")) || "/static/js/outbox.js");

const pagesCache = (user) => caches.open(`${PAGES_PREFIX}${user}`);
let lastWrite = 0;

// -- strategies -----------------------------------------------------------------------------

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) (await caches.open(SHELL_CACHE)).put(request, response.clone());
  return response;
}

async function networkFirst(event) {
  const request = event.request;
  const user = await FieldOutbox.getMeta("user");
  const network = fetch(request).then(async (response) => {
    if (user && keepable(request, response)) await keep(user, request.url, response.clone());
    return response;
  });
  const patience = Date.now() - lastWrite < AFTER_WRITE_MS ? AFTER_WRITE_TIMEOUT_MS : NETWORK_TIMEOUT_MS;
  const timeout = new Promise((resolve) => setTimeout(resolve, patience, null));
  event.waitUntil(network.catch(() => null));
  try {
    const response = await Promise.race([network, timeout]);
    if (response) return response;
  } catch {
    // offline: fall through to the copy on this phone
  }
  return (await offlineCopy(user, request)) || (await network.catch(() => null)) || offlinePage();
}

// -- pages kept on the phone ----------------------------------------------------------------

function keepable(request, response) {
  const url = new URL(request.url);
  return (
    response.ok &&
    !response.redirected &&
    url.origin === location.origin &&
    !NEVER_KEPT.test(url.pathname) &&
    !request.headers.get("HX-Request") &&
    (response.headers.get("Content-Type") || "").startsWith("text/html")
  );
}

// Keep a page without its CSRF token, stamped with the time it was kept.
async function keep(user, url, response) {
  const html = scrub(await response.text());
  const headers = { "Content-Type": "text/html; charset=utf-8", "X-Kept-At": new Date().toISOString() };
  await (await pagesCache(user)).put(url, new Response(html, { headers }));
}

function scrub(html) {
  return html
    .replace(/(<meta name="csrf-token" content=")[^"]*"/, '$1"')
    .replace(/(name="csrf_token" value=")[^"]*"/g, '$1"');
}

async function offlineCopy(user, request) {
  if (!user) return null;
  const cache = await pagesCache(user);
  const url = new URL(request.url);
  let kept = await cache.match(request, { ignoreSearch: url.pathname === "/search" });
  let fill = null;
  if (!kept) {
    const shell = SHELLS.find(([pattern]) => pattern.test(url.pathname));
    if (!shell) return null;
    kept = await cache.match(shell[1]);
    const accountId = url.pathname.split("/")[2] || url.searchParams.get("account_id");
    const account = accountId ? await FieldOutbox.account(user, accountId) : null;
    if (!kept || (accountId && !account)) return null;
    fill = { accountId, name: account?.account.name ?? "" };
  }
  return marked(kept, fill);
}

// The kept page with the time it was kept in a <meta>, and a shell's account put in.
async function marked(kept, fill) {
  let html = await kept.text();
  const at = kept.headers.get("X-Kept-At") || "";
  let meta = `<meta name="fieldcrm-kept-at" content="${at}">`;
  if (fill) {
    meta += '<meta name="fieldcrm-shell" content="1">';
    if (fill.accountId) html = html.replaceAll(SHELL_ID, fill.accountId);
    html = html.replaceAll(SHELL_NAME, escapeHtml(fill.name));
  }
  html = html.replace("<head>", `<head>${meta}`);
  return new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8" } });
}

function escapeHtml(text) {
  const entities = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  return text.replace(/[&<>"']/g, (ch) => entities[ch]);
}

async function offlinePage() {
  return (
    (await caches.match(OFFLINE_URL)) ||
    new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } })
  );
}

// -- the briefcase --------------------------------------------------------------------------

const priming = new Map(); // user -> the refresh under way (pages ask on every load)

function prime(user) {
  if (!priming.has(user)) priming.set(user, refresh(user).finally(() => priming.delete(user)));
  return priming.get(user);
}

// Fetch what changed since the last refresh (everything the first time), a page of accounts
// at a time, and keep each account's briefing page and its data.
async function refresh(user) {
  const before = await FieldOutbox.getMeta(`briefcase:${user}`);
  const cache = await pagesCache(user);
  const seen = new Set();
  let cursor = null;
  let first = null;
  do {
    const params = new URLSearchParams({ html: "true", limit: String(BRIEFCASE_PAGE_SIZE) });
    if (before) params.set("since", before.sequence), params.set("epoch", before.epoch);
    if (cursor) params.set("cursor", cursor);
    const response = await fetch(`/api/briefcase?${params}`, { credentials: "same-origin" });
    if (!response.ok) return { state: response.status === 401 ? "login" : "failed" };
    const batch = await response.json();
    first ??= batch;
    const at = new Date().toISOString();
    const headers = { "Content-Type": "text/html; charset=utf-8", "X-Kept-At": at };
    await Promise.all(
      batch.accounts.map((item) => cache.put(item.url, new Response(item.html, { headers }))),
    );
    await FieldOutbox.putAccounts(
      user,
      batch.accounts.map(({ html, ...item }) => item),
    );
    batch.accounts.forEach((item) => seen.add(item.account.id));
    if (batch.deleted.length) {
      await FieldOutbox.deleteAccounts(user, batch.deleted);
      await Promise.all(batch.deleted.map((id) => cache.delete(`/accounts/${id}`)));
    }
    cursor = batch.next_cursor;
  } while (cursor);
  if (first.full) await dropUnseen(user, cache, seen);
  await keepPages(user, [...LIST_PAGES, ...SHELLS.map(([, shell]) => shell)]);
  await FieldOutbox.setMeta(`briefcase:${user}`, {
    sequence: first.sequence,
    epoch: first.epoch,
    at: Date.now(),
    fields: first.fields ?? before?.fields ?? null,
  });
  return { state: "done", accounts: seen.size, full: first.full };
}

async function dropUnseen(user, cache, seen) {
  const gone = (await FieldOutbox.accounts(user)).map((a) => a.account.id).filter((id) => !seen.has(id));
  await FieldOutbox.deleteAccounts(user, gone);
  await Promise.all(gone.map((id) => cache.delete(`/accounts/${id}`)));
}

async function keepPages(user, urls) {
  await Promise.all(
    urls.map(async (url) => {
      const response = await fetch(url, { credentials: "same-origin" }).catch(() => null);
      if (response?.ok && !response.redirected) await keep(user, new URL(url, location).href, response);
    }),
  );
}

async function purge(user) {
  await caches.delete(`${PAGES_PREFIX}${user}`);
  await FieldOutbox.forget(user);
  if ((await FieldOutbox.getMeta("user")) === user) await FieldOutbox.setMeta("user", null);
}

// -- reminders (Web Push) -------------------------------------------------------------------

// Show a reminder. A reminder for someone other than the rep logged in here says only that
// there is one: customers' names stay off a shared phone's lock screen.
async function showReminder(message) {
  const user = await FieldOutbox.getMeta("user");
  const mine = Boolean(user) && user === message.user_id;
  const title = mine ? message.title : "FieldCRM";
  const options = {
    tag: message.tag,
    renotify: false,
    lang: message.lang,
    body: mine ? message.body : "",
    icon: "/static/icons/icon-192.png",
    badge: "/static/icons/icon-192.png",
    data: mine ? message : { url: "/login" },
    actions: mine && message.task_id ? message.actions : [],
  };
  await self.registration.showNotification(title, options);
}

// A tap opens the page the reminder is about (the kept copy when offline); "Done" and
// "Snooze" go through the outbox, so they also work without a network.
async function openFromNotification(data, action) {
  if ((action === "done" || action === "snooze") && data.task_id) return act(data, action);
  const url = new URL(data.url || "/today", location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).origin === location.origin);
  if (open) {
    const shown = (await open.navigate(url).catch(() => null)) || open;
    return shown.focus().catch(() => shown);
  }
  return self.clients.openWindow(url);
}

async function act(data, action) {
  const user = await FieldOutbox.getMeta("user");
  if (!user || user !== data.user_id) return openFromNotification({ url: "/login" }, "");
  await FieldOutbox.enqueue(user, {
    type: action === "done" ? "task.complete" : "task.snooze",
    entity_id: data.task_id,
    payload: {},
    label: data.title,
    url: data.url,
    account_id: data.account_id,
  });
  const result = await FieldOutbox.replay(user, { force: true });
  if (result.state !== "done") await self.registration.sync?.register("outbox").catch(() => null);
  const clients = await self.clients.matchAll({ type: "window" });
  clients.forEach((client) => client.postMessage({ type: "replayed", ...result }));
  return result;
}

// -- listeners ------------------------------------------------------------------------------

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll([...PRECACHE, OFFLINE_URL]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      const stale = names.filter((n) => n.startsWith("fieldcrm-shell-") && n !== SHELL_CACHE);
      await Promise.all(stale.map((name) => caches.delete(name)));
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== location.origin) return;
  if (request.method !== "GET") {
    lastWrite = Date.now();
    return;
  }
  if (url.pathname.startsWith("/static/")) event.respondWith(cacheFirst(request));
  else if (request.mode === "navigate") event.respondWith(networkFirst(event));
});

self.addEventListener("message", (event) => {
  const { type, user } = event.data || {};
  const reply = (answer) => event.source?.postMessage({ type: `${type}:done`, ...answer });
  const work = {
    user: () => FieldOutbox.setMeta("user", user).then(() => ({})),
    prime: () => prime(user),
    purge: () => purge(user).then(() => ({})),
    version: async () => ({ version: VERSION }),
    // A page that opened while this worker was activating can miss its claim; it asks again.
    claim: () => self.clients.claim().then(() => ({})),
  }[type];
  if (work) event.waitUntil(work().then(reply, (error) => reply({ state: "failed", error: String(error) })));
});

self.addEventListener("push", (event) => {
  let message = null;
  try {
    message = event.data ? event.data.json() : null;
  } catch {
    message = null;
  }
  event.waitUntil(showReminder(message || { title: "FieldCRM", body: "", url: "/today" }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification.data || {}, event.action));
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "outbox") return;
  event.waitUntil(
    (async () => {
      const user = await FieldOutbox.getMeta("user");
      const result = await FieldOutbox.replay(user, { force: true });
      const clients = await self.clients.matchAll({ type: "window" });
      clients.forEach((client) => client.postMessage({ type: "replayed", ...result }));
      if (result.state === "failed") throw new Error("outbox replay failed; the browser retries");
    })(),
  );
});
