// "Turn on reminders": asks for notifications only after the rep taps, subscribes this
// browser with the server's VAPID key and hands the subscription to the server.
// On an iPhone, web push works only in the app installed to the home screen: say so.

(function () {
  "use strict";

  const button = document.getElementById("push-on");
  if (!button) return;
  const status = document.getElementById("push-status");

  function say(name, isError = true) {
    const text = document.querySelector(`#tpl-push-messages`)?.content.querySelector(`[data-message="${name}"]`);
    status.textContent = text ? text.textContent : name;
    status.classList.toggle("notice-error", isError);
    status.classList.toggle("notice-success", !isError);
    status.hidden = false;
  }

  function keyBytes(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
  }

  const ios = /iPhone|iPad|iPod/.test(navigator.userAgent);
  const installed = matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  const capable = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
  if (ios && !installed) {
    document.getElementById("push-ios-hint").hidden = false;
    return;
  }
  if (!capable) {
    say("unsupported");
    return;
  }
  button.hidden = false;

  async function turnOn() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return say("denied");
    const registration = await navigator.serviceWorker.ready;
    const answer = await fetch("/api/push/key", { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`key: ${answer.status}`);
    const { public_key: key } = await answer.json();
    const subscription =
      (await registration.pushManager.getSubscription()) ||
      (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
    const saved = await fetch("/api/push/subscriptions", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(subscription.toJSON()),
    });
    if (!saved.ok) throw new Error(`subscribe: ${saved.status}`);
    say("on", false);
    location.replace("/me#devices");
    location.reload();
  }

  button.addEventListener("click", () => {
    button.disabled = true;
    turnOn()
      .catch(() => say("failed"))
      .finally(() => {
        button.disabled = false;
      });
  });
})();
