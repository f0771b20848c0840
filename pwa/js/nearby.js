// "Use my location": asks the browser for the phone's position (the browser asks the user for
// permission the first time), then loads a server-rendered list for that position into the
// page: nearby accounts, or today's route ordered from here. Nothing happens until the button
// is tapped, and the position is sent only with that one request. Boxes carry their URL,
// target, swap ("inner" or "outer") and messages in data- attributes, in the reader's language.

const OPTIONS = { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 };

function say(box, text) {
  const status = box.querySelector("[data-here-status]");
  if (status) status.textContent = text;
}

async function load(box, latitude, longitude) {
  const url = new URL(box.dataset.hereUrl, window.location.href);
  url.searchParams.set("lat", latitude.toFixed(6));
  url.searchParams.set("lon", longitude.toFixed(6));
  const target = document.querySelector(box.dataset.hereTarget);
  if (!target) {
    window.location.assign(url.href);
    return;
  }
  const response = await fetch(url.href, {
    headers: { "HX-Request": "true" },
    credentials: "same-origin",
  });
  if (!response.ok && response.status !== 422) throw new Error(`HTTP ${response.status}`);
  const html = await response.text();
  if (box.dataset.hereSwap === "outer") {
    target.outerHTML = html;
  } else {
    target.innerHTML = html;
    say(box, "");
  }
}

function locate(button) {
  const box = button.closest("[data-here]");
  if (!box) return;
  if (!("geolocation" in navigator)) {
    say(box, box.dataset.failed);
    return;
  }
  button.disabled = true;
  say(box, box.dataset.locating);
  navigator.geolocation.getCurrentPosition(
    async (position) => {
      try {
        await load(box, position.coords.latitude, position.coords.longitude);
      } catch {
        say(box, box.dataset.offline);
      } finally {
        button.disabled = false;
      }
    },
    () => {
      say(box, box.dataset.failed);
      button.disabled = false;
    },
    OPTIONS,
  );
}

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("[data-here-button]");
  if (button) locate(button);
});
