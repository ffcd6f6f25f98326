// Data capture pages: what live validation (htmx) tells, shown in place. The pages work
// without this file; it only hides the items branching hides and marks the refused inputs.
"use strict";

function applyLiveValidation() {
  const form = document.getElementById("capture-form");
  const summary = document.getElementById("live-summary");
  if (!form || !summary) {
    return;
  }
  if (summary.dataset.branching !== "unknown") {
    const hidden = new Set((summary.dataset.hidden || "").split(" ").filter(Boolean));
    form.querySelectorAll(".capture-item[data-cell]").forEach((item) => {
      item.hidden = hidden.has(item.dataset.cell);
    });
  }
  // An input is invalid while one of the message boxes that describe it holds an error.
  form.querySelectorAll("input[aria-describedby], select[aria-describedby]").forEach((input) => {
    const invalid = input
      .getAttribute("aria-describedby")
      .split(" ")
      .some((id) => {
        const box = document.getElementById(id);
        return box !== null && box.querySelector(".error") !== null;
      });
    if (invalid) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  });
}

document.addEventListener("htmx:afterSettle", applyLiveValidation);

document.addEventListener("change", (event) => {
  // A row marked for removal is struck through at once; the save removes it.
  const box = event.target.closest("input[data-remove-row]");
  if (box) {
    box.closest("tr").classList.toggle("removing", box.checked);
  }
});

document.addEventListener("htmx:afterSwap", (event) => {
  // A row added by "Add a row": the keyboard goes on in its first field.
  const body = event.detail.target;
  if (body.tagName === "TBODY" && body.closest("table.capture-rows")) {
    const field = body.lastElementChild && body.lastElementChild.querySelector("input, select");
    if (field) {
      field.focus();
    }
  }
});
