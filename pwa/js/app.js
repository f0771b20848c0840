// The page's own behaviour: as little as possible, the server renders everything else.
// Loaded with `defer` after htmx, so both `htmx` and the whole document are there.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

// Every htmx request carries the CSRF token (forms also send it as a field).
document.addEventListener("htmx:configRequest", (event) => {
  const token = csrfToken();
  if (token) event.detail.headers["X-CSRF-Token"] = token;
});
