/* Forms: focus on the error summary, and from its links to the field.
 *
 * The summary (templates/includes/error_summary.html) carries autofocus, which
 * the browser honours on a page load and htmx after a swap. A page reached with
 * a fragment in its address skips autofocus, so the summary is focused here
 * too when nothing else has focus. A link of the summary moves focus to its
 * field (following a fragment only scrolls to it), or to the first control of
 * a group (radio buttons, checkboxes). Served from static: the strict CSP
 * allows no inline script. */
(function () {
  "use strict";

  function focusSummary(root) {
    var summary = (root || document).querySelector("[data-error-summary]");
    if (summary && (document.activeElement === null || document.activeElement === document.body)) {
      summary.focus();
    }
  }

  function fieldOf(link) {
    var id = decodeURIComponent((link.getAttribute("href") || "").slice(1));
    var target = id && document.getElementById(id);
    if (!target) { return null; }
    if (target.matches("input, select, textarea, button")) { return target; }
    return target.querySelector("input, select, textarea, button");
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) { return; }
    var field = fieldOf(link);
    if (!field) { return; }
    event.preventDefault();
    // A field in a closed <details> (a folded step) is shown first.
    for (var d = field.closest("details:not([open])"); d; d = d.parentElement.closest("details:not([open])")) {
      d.open = true;
    }
    field.focus();
    field.scrollIntoView({block: "center"});
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { focusSummary(); });
  } else {
    focusSummary();
  }
  document.addEventListener("htmx:afterSettle", function (event) { focusSummary(event.target); });
})();
