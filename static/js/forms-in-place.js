// Forms in place (htmx, drawn by the server; see releases/views/inplace.py).
// A form sent back with its errors (400, or 409 for a step a guard still
// refuses) is swapped in place like a saved one, so the errors show beside
// the fields. Any other error (403, 404, 429, 500) replaces the page's main
// area with the error page the server drew.
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "[23]..", swap: true },
  { code: "40[09]", swap: true, error: false },
  { code: "[45]..", swap: true, error: true, target: "#main", select: "#main", swapOverride: "outerHTML" },
  { code: "...", swap: false },
];
// Settling copies these attributes from the old element to the new; a style
// attribute is inline style, which the CSP refuses (and reports), so it is left out.
htmx.config.attributesToSettle = ["class", "width", "height"];
