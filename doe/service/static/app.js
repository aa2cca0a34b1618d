// li2s-doe lab page: a little progressive enhancement; every form works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (event) => {
      const question = form.dataset.confirm;
      if (question && !window.confirm(question)) {
        event.preventDefault();
        return;
      }
      // one tap, one request: the server is idempotent anyway, this spares a retry
      for (const button of form.querySelectorAll("button[type=submit]")) {
        button.disabled = true;
      }
    });
  }
  const first = document.querySelector(".field.invalid input, .field.invalid select");
  if (first) {
    first.focus();
  }
});
