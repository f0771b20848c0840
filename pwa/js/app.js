// The page's own behaviour: as little as possible, the server renders everything else.
// Loaded with `defer` after htmx, so both `htmx` and the whole document are there.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

// Every htmx request carries the CSRF token (forms also send it as a field).
document.addEventListener("htmx:configRequest", (event) => {
  const token = csrfToken();
  if (token) event.detail.headers["X-CSRF-Token"] = token;
});

// A row's form kept in a <template> is put in place when its <details> opens (tasks/_task.html).
document.addEventListener(
  "toggle",
  (event) => {
    const held = event.target.querySelector?.(":scope > template");
    if (!held) return;
    held.replaceWith(held.content);
    htmx.process(event.target);
  },
  true,
);
