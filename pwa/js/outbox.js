// The phone's own store (IndexedDB) and the outbox of changes made offline.
//
// A classic script shared by the pages and the service worker (importScripts), so both read
// and replay the same outbox. Everything is kept per user: a mutation carries the id of the
// user who made it, and only that user's session ever sends it.
//
// Stores (database "fieldcrm", version DB_VERSION):
//   outbox   {id, format, user_id, type, entity_id, base_version, payload, form, client_time,
//             queued_at, url, label, account_id,
//             status: "queued"|"rejected"|"conflict"|"failed", errors, current, version,
//             attempts, last_error}; ordered by `seq` (first in, first out)
//   accounts {key: "<user>:<account id>", user, ...the briefcase item without its page}
//   meta     {key, value}: the device id, each user's briefcase sequence and epoch, backoff
//
// The outbox format is versioned (`format`): a newer script reads older entries and never
// drops one it does not understand. Format 2 added `attempts` and `last_error` (an entry
// without them has not failed yet) and the status "failed".

(function (scope) {
  "use strict";

  const DB_NAME = "fieldcrm";
  const DB_VERSION = 1;
  const FORMAT = 2;
  const BATCH = 50;
  const MAX_BACKOFF_MS = 5 * 60 * 1000;
  // An entry the server failed on this many times, sent on its own, waits for the rep.
  const MAX_SERVER_FAILURES = 3;

  let opening = null;

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  function open() {
    opening ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("outbox")) {
          const outbox = db.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
          outbox.createIndex("id", "id", { unique: true });
          outbox.createIndex("user", "user_id");
        }
        if (!db.objectStoreNames.contains("accounts")) {
          db.createObjectStore("accounts", { keyPath: "key" }).createIndex("user", "user");
        }
        if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta", { keyPath: "key" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return opening;
  }

  async function store(name, mode = "readonly") {
    return (await open()).transaction(name, mode).objectStore(name);
  }

  async function done(tx) {
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  }

  // -- meta -----------------------------------------------------------------------------------

  async function getMeta(key) {
    return (await request((await store("meta")).get(key)))?.value;
  }

  async function setMeta(key, value) {
    await request((await store("meta", "readwrite")).put({ key, value }));
  }

  async function deviceId() {
    let id = await getMeta("device");
    if (!id) {
      id = crypto.randomUUID();
      await setMeta("device", id);
    }
    return id;
  }

  // -- the outbox -----------------------------------------------------------------------------

  async function enqueue(user, mutation) {
    const entry = {
      format: FORMAT,
      id: crypto.randomUUID(),
      user_id: user,
      base_version: null,
      payload: {},
      client_time: new Date().toISOString(),
      queued_at: Date.now(),
      status: "queued",
      ...mutation,
    };
    await request((await store("outbox", "readwrite")).add(entry));
    return entry;
  }

  async function entries(user) {
    const all = await request((await store("outbox")).index("user").getAll(user));
    return all.sort((a, b) => a.seq - b.seq);
  }

  async function remove(seq) {
    await request((await store("outbox", "readwrite")).delete(seq));
  }

  async function update(entry) {
    await request((await store("outbox", "readwrite")).put(entry));
  }

  function wire(entry) {
    const body = {
      id: entry.id,
      type: entry.type,
      entity_id: entry.entity_id,
      base_version: entry.base_version,
      payload: entry.payload,
      client_time: entry.client_time,
    };
    if (entry.form) body.form = entry.form;
    return body;
  }

  // What a result means for its entry: gone (applied), or kept for the rep to act on.
  function settle(entry, result) {
    const errors = result.errors || {};
    const hasErrors = Object.keys(errors).length > 0;
    if (result.status === "applied" || (result.status === "duplicate" && !hasErrors)) return null;
    const conflict = result.status === "conflict" || (result.status === "duplicate" && result.current);
    return {
      ...entry,
      status: conflict ? "conflict" : "rejected",
      errors,
      current: result.current ?? null,
      version: result.version ?? null,
    };
  }

  // What became of a batch: "sent" (a result for each entry, by id), "login" (401/403),
  // "later" (no network, or throttled: nothing against the entries) or "failed" (the server
  // took none of it: an error status, or an answer without a result for every entry).
  async function post(device, batch) {
    let response;
    try {
      response = await fetch("/api/sync", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ device_id: device, mutations: batch.map(wire) }),
      });
    } catch {
      return { state: "later" };
    }
    if (response.status === 401 || response.status === 403) return { state: "login" };
    if (response.status === 429) return { state: "later" };
    const results = response.ok ? (await response.json().catch(() => null))?.results : null;
    const byId = new Map(Array.isArray(results) ? results.map((r) => [r?.id, r]) : []);
    if (!batch.every((entry) => byId.get(entry.id)?.status)) {
      return { state: "failed", error: response.ok ? "unreadable answer" : `HTTP ${response.status}` };
    }
    return { state: "sent", byId };
  }

  // Count a server failure against an entry sent on its own; true once it waits for the rep.
  async function failedOn(entry, error) {
    const attempts = (entry.attempts ?? 0) + 1;
    const status = attempts >= MAX_SERVER_FAILURES ? "failed" : "queued";
    await update({ ...entry, attempts, last_error: error, status });
    return status === "failed";
  }

  // Send the user's queued entries, oldest first, in batches. A network failure stops the run
  // and leaves the entries queued (with a back-off); 401 means "log in again". When the server
  // fails on a batch, entries go one at a time: the one it fails on alone is counted, and
  // after MAX_SERVER_FAILURES it waits for the rep as "failed" while the rest are sent.
  async function replayNow(user, { force = false } = {}) {
    const backoff = (await getMeta(`backoff:${user}`)) || { until: 0, delay: 0 };
    if (!force && Date.now() < backoff.until) return { state: "waiting", until: backoff.until };
    const device = await deviceId();
    let sent = 0;
    let alone = false;
    for (;;) {
      const batch = (await entries(user)).filter((e) => e.status === "queued").slice(0, alone ? 1 : BATCH);
      if (batch.length === 0) break;
      const answer = await post(device, batch);
      if (answer.state === "login") {
        await setMeta(`login:${user}`, true);
        return { state: "login", sent };
      }
      if (answer.state === "failed") {
        if (batch.length > 1) {
          alone = true; // find the entry it fails on
          continue;
        }
        if (await failedOn(batch[0], answer.error)) {
          alone = false; // set aside for the rep: on with the rest
          continue;
        }
      }
      if (answer.state !== "sent") {
        const delay = Math.min(Math.max(backoff.delay * 2, 2000), MAX_BACKOFF_MS);
        await setMeta(`backoff:${user}`, { until: Date.now() + delay, delay });
        return { state: "failed", sent };
      }
      for (const entry of batch) {
        const kept = settle(entry, answer.byId.get(entry.id));
        if (kept) await update(kept);
        else await remove(entry.seq);
        sent += 1;
      }
      await setMeta(`backoff:${user}`, { until: 0, delay: 0 });
      await setMeta(`login:${user}`, false);
    }
    return { state: "done", sent };
  }

  // One run at a time across the pages and the service worker.
  async function replay(user, options) {
    if (!user) return { state: "nobody" };
    if (!scope.navigator?.locks) return replayNow(user, options);
    return scope.navigator.locks.request(`outbox:${user}`, () => replayNow(user, options));
  }

  // -- the briefcase --------------------------------------------------------------------------

  async function putAccounts(user, items) {
    const tx = (await open()).transaction("accounts", "readwrite");
    const accounts = tx.objectStore("accounts");
    for (const item of items) accounts.put({ ...item, key: `${user}:${item.account.id}`, user });
    await done(tx);
  }

  async function deleteAccounts(user, ids) {
    const tx = (await open()).transaction("accounts", "readwrite");
    for (const id of ids) tx.objectStore("accounts").delete(`${user}:${id}`);
    await done(tx);
  }

  async function accounts(user) {
    return request((await store("accounts")).index("user").getAll(user));
  }

  async function account(user, id) {
    return request((await store("accounts")).get(`${user}:${id}`));
  }

  async function forget(user) {
    const tx = (await open()).transaction(["accounts", "meta"], "readwrite");
    const index = tx.objectStore("accounts").index("user");
    index.openKeyCursor(IDBKeyRange.only(user)).onsuccess = (event) => {
      const cursor = event.target.result;
      if (!cursor) return;
      tx.objectStore("accounts").delete(cursor.primaryKey);
      cursor.continue();
    };
    tx.objectStore("meta").delete(`briefcase:${user}`);
    await done(tx);
  }

  scope.FieldOutbox = {
    FORMAT,
    deviceId,
    getMeta,
    setMeta,
    enqueue,
    entries,
    remove,
    update,
    replay,
    putAccounts,
    deleteAccounts,
    accounts,
    account,
    forget,
  };
})(self);
