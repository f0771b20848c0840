// Search as you type, but only once the IME has finished composing; and 〒 → address.
//
// The search box (data-ime-search) asks htmx for results on "input changed delay:250ms" and
// on "search". While a Japanese IME is composing, the half-typed reading is not a query:
// requests are held back, and the finished text is searched when composition ends.
//
// A postal code input (data-postal-lookup) fills the prefecture, city and address inputs of
// its form from GET /api/postal-codes/{code}; inputs the rep already filled are left alone.

const composing = new WeakSet();

function watchComposition(input) {
  input.addEventListener("compositionstart", () => composing.add(input));
  input.addEventListener("compositionend", () => {
    composing.delete(input);
    if (window.htmx) window.htmx.trigger(input, "search");
  });
  input.addEventListener("htmx:beforeRequest", (event) => {
    if (composing.has(input)) event.preventDefault();
  });
}

function postalDigits(raw) {
  const digits = raw.normalize("NFKC").replace(/[^0-9]/g, "");
  return digits.length === 7 ? digits : null;
}

async function fillAddress(input) {
  const code = postalDigits(input.value);
  const form = input.form;
  if (!code || !form) return;
  let found;
  try {
    const response = await fetch(`/api/postal-codes/${code}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    found = await response.json();
  } catch {
    return; // offline: the rep types the address
  }
  const fill = (name, value) => {
    const field = form.elements.namedItem(name);
    if (field && "value" in field && !field.value.trim() && value) {
      field.value = value;
      field.dispatchEvent(new Event("input", { bubbles: true }));
    }
  };
  fill("prefecture", found.prefecture);
  fill("city", found.city);
  fill("address", found.town);
}

function watchPostalCode(input) {
  input.addEventListener("change", () => fillAddress(input));
}

function setUp(root) {
  root.querySelectorAll("[data-ime-search]").forEach((input) => {
    if (input.dataset.imeReady) return;
    input.dataset.imeReady = "1";
    watchComposition(input);
  });
  root.querySelectorAll("[data-postal-lookup]").forEach((input) => {
    if (input.dataset.postalReady) return;
    input.dataset.postalReady = "1";
    watchPostalCode(input);
  });
}

setUp(document);
// Forms swapped in by htmx (a re-rendered form after an error) need the same wiring.
document.addEventListener("htmx:load", (event) => setUp(event.target));
