// Small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("change", (event) => {
  // The study switcher opens the chosen study at once (the Open button does the same).
  const select = event.target.closest("select[data-navigate]");
  if (select && select.value) {
    window.location.assign(select.dataset.navigate + encodeURIComponent(select.value) + "/");
  }
});
