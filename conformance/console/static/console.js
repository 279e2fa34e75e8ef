// The console's only script: plain JS, no framework. Fetch-based actions send the page's CSRF token in the
// X-CSRF-Token header; every form already carries it as a hidden field, so the pages work without this file.
"use strict";
window.s24console = {
  csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },
  post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin", body: body,
                       headers: {"X-CSRF-Token": window.s24console.csrf()}});
  },
};
document.addEventListener("change", (event) => {
  // Filters of a list apply as soon as they change.
  const form = event.target.closest("form[data-autosubmit]");
  if (form) form.submit();
});
