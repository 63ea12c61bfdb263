// Wharf web UI: progressive enhancements only; every page works without this file.
"use strict";

// A "Copy" button next to the install command.
function addCopyButton() {
  const code = document.getElementById("install-command");
  if (!code || !navigator.clipboard) {
    return;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy";
  button.addEventListener("click", () => {
    navigator.clipboard.writeText(code.textContent).then(
      () => { button.textContent = "Copied"; },
      () => { button.textContent = "Copy failed"; }
    );
  });
  code.parentElement.insertAdjacentElement("afterend", button);
}

// Marks the document so tests and styles can tell the script ran under the page's policy.
function markEnhanced() {
  document.documentElement.dataset.enhanced = "true";
}

document.addEventListener("DOMContentLoaded", () => {
  addCopyButton();
  markEnhanced();
});
