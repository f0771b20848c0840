// "Check in here": fills a visit form's hidden lat/lon/accuracy inputs from the device's
// position. Listens on the document, so forms swapped in by htmx work too. Messages come from
// data- attributes the server rendered in the reader's language.

const OPTIONS = { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 };

function say(box, text) {
  const status = box.querySelector("[data-checkin-status]");
  if (status) status.textContent = text;
}

function fill(box, name, value) {
  const input = box.querySelector(`[data-checkin-${name}]`);
  if (input) input.value = value;
}

function checkIn(button) {
  const box = button.closest("[data-checkin]");
  if (!box) return;
  if (!("geolocation" in navigator)) {
    say(box, box.dataset.failed);
    return;
  }
  button.disabled = true;
  say(box, box.dataset.locating);
  navigator.geolocation.getCurrentPosition(
    (position) => {
      const { latitude, longitude, accuracy } = position.coords;
      fill(box, "lat", latitude.toFixed(6));
      fill(box, "lon", longitude.toFixed(6));
      fill(box, "accuracy", Math.round(accuracy));
      say(box, box.dataset.located.replace("{meters}", Math.round(accuracy)));
      button.disabled = false;
    },
    () => {
      say(box, box.dataset.failed);
      button.disabled = false;
    },
    OPTIONS,
  );
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("[data-checkin-button]");
  if (button) checkIn(button);
});
