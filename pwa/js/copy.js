// "Copy" buttons: a button with data-copy="ID" copies the value of the field with that id and
// shows the element named by data-copied. Without a clipboard (old browsers, plain http) the
// buttons stay hidden and the field can still be selected and copied by hand.

(function () {
  "use strict";

  if (!navigator.clipboard || !window.isSecureContext) return;
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    const done = document.getElementById(button.dataset.copied || "");
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(field.value);
      } catch {
        field.select();
        return;
      }
      if (done) done.hidden = false;
    });
  }
})();
