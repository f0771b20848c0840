// The pipeline board (/deals) on a desktop: drag a card onto another column to move the deal.
//
// A drop fills the card's own move form (form.deal-move) with the column's stage and submits
// it, so a drag takes exactly the path of the card's button: a plain POST, htmx when it is
// there, the offline outbox when the network is not. Dropping on the lost zone opens the deal's
// page at its Lost form instead, since a lost deal needs a reason. On a phone (narrower than
// 900px) cards are not draggable: the button and the swipe between stages do the work.
// The filters (pipeline, owner) apply as soon as one is chosen.

(function () {
  "use strict";

  const WIDE = window.matchMedia("(min-width: 900px)");
  const ZONES = ".deal-column, .deal-drop";
  let dragged = null;

  function enable() {
    for (const card of document.querySelectorAll(".deal-card")) {
      card.draggable = WIDE.matches && card.querySelector("form.deal-move") !== null;
    }
  }

  function clearTargets() {
    for (const zone of document.querySelectorAll(".deal-drop-target")) {
      zone.classList.remove("deal-drop-target");
    }
  }

  function zoneFor(event) {
    const zone = event.target.closest?.(ZONES);
    if (!dragged || !zone || !zone.dataset.stageId) return null;
    return zone.dataset.stageId === dragged.dataset.stageId ? null : zone;
  }

  document.addEventListener("dragstart", (event) => {
    const card = event.target.closest?.(".deal-card");
    if (!card || !card.draggable) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.id);
    card.classList.add("deal-dragging");
  });

  document.addEventListener("dragend", () => {
    dragged?.classList.remove("deal-dragging");
    dragged = null;
    clearTargets();
  });

  document.addEventListener("dragover", (event) => {
    const zone = zoneFor(event);
    if (!zone) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    if (!zone.classList.contains("deal-drop-target")) {
      clearTargets();
      zone.classList.add("deal-drop-target");
    }
  });

  document.addEventListener("dragleave", (event) => {
    const zone = event.target.closest?.(ZONES);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("deal-drop-target");
  });

  document.addEventListener("drop", (event) => {
    const zone = zoneFor(event);
    if (!zone) return;
    event.preventDefault();
    const form = dragged.querySelector("form.deal-move");
    dragged.classList.remove("deal-dragging");
    dragged = null; // the swap may take the card away before its dragend
    clearTargets();
    if (zone.dataset.outcome === "lost") {
      window.location.assign(`/deals/${form.dataset.dealId}#deal-lost`);
      return;
    }
    form.elements.stage_id.value = zone.dataset.stageId;
    form.requestSubmit();
  });

  document.addEventListener("change", (event) => {
    const select = event.target.closest?.(".deal-filters select");
    if (select) select.form.requestSubmit();
  });

  WIDE.addEventListener("change", enable);
  document.addEventListener("htmx:afterSettle", enable);
  enable();
})();
