"use strict";
// Shared helpers of the levradar dashboard: the as-of control, fetching the API, number formats, colour levels.
const lr = {
  // the hour the page replays (?as_of= in the URL, ISO 8601 UTC), or null: the newest hour, live
  asOf: new URLSearchParams(window.location.search).get("as_of") || null,
  at(path) { // an API or page URL at the page's as-of
    if (!lr.asOf) return path;
    return path + (path.includes("?") ? "&" : "?") + "as_of=" + encodeURIComponent(lr.asOf);
  },
  async json(url, pending) {
    const response = await (pending || fetch(url, { credentials: "same-origin" }));
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    return body;
  },
  status(text, isError) {
    const el = document.getElementById("status");
    el.textContent = text;
    el.className = isError ? "error" : "muted";
  },
  utcNow() { return new Date().toISOString().slice(11, 19) + " UTC"; },
  showAsOf(iso) { // the hour the API answered for: in the heading, the picker and body[data-asof]
    document.getElementById("asof").textContent = "as of " + lr.when(iso) + (lr.asOf ? " (replay)" : " (newest hour)");
    const input = document.getElementById("asof-input");
    if (document.activeElement !== input) input.value = iso.slice(0, 16); // never under a user's typing
    document.body.dataset.asof = iso;
  },
  ordinal(n) { // 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ...
    const tens = n % 100, ones = n % 10;
    return n + (tens >= 11 && tens <= 13 ? "th" : ones === 1 ? "st" : ones === 2 ? "nd" : ones === 3 ? "rd" : "th");
  },
  num(v, digits = 0) { return v === null || v === undefined ? "–" : Number(v).toFixed(digits); },
  signed(v, digits) { return v === null || v === undefined ? "–" : (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(digits); },
  pct(v, digits = 1) { return v === null || v === undefined ? "–" : lr.signed(100 * v, digits) + " %"; },
  usd(v) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    if (a >= 1e9) return "$" + (v / 1e9).toFixed(2) + " B";
    if (a >= 1e6) return "$" + (v / 1e6).toFixed(1) + " M";
    if (a >= 1e3) return "$" + (v / 1e3).toFixed(0) + " k";
    return "$" + v.toFixed(0);
  },
  price(v) { return v === null || v === undefined ? "–" : "$" + v.toLocaleString("en-US", { maximumSignificantDigits: 6 }); },
  level(v) { // 0..100 score → colour class
    if (v === null || v === undefined) return "";
    const a = Math.abs(v);
    return a >= 75 ? "lvl3" : a >= 50 ? "lvl2" : a >= 25 ? "lvl1" : "lvl0";
  },
  pocket(p) { return p ? `${lr.signed(p.distance_pct, 1)} % · ${lr.usd(p.usd)}` : "–"; },
  when(iso) { return iso ? iso.replace("T", " ").replace(":00Z", " UTC") : ""; },
  coverageText(c) { // who the reading rests on, and who is missing
    if (!c || !c.status) return "";
    const missing = (c.missing || []).map((m) => `${m.venue} (last bar ${lr.when(m.last_bar)})`).join(", ");
    return `${c.status}: read from ${(c.venues || []).join(", ")} (${Math.round(100 * (c.weight_present ?? 0))} % of its weight)` +
      (missing ? `; missing ${missing}` : "");
  },
  venueColour(v) { return window.lrVenueColours[v] || "#888"; },
  coverageMarks(c) { // one dot per venue in the venue's chart colour: filled = contributed, hollow = missing
    const span = document.createElement("span");
    span.className = "venue-marks";
    span.title = lr.coverageText(c);
    const dot = (venue, present) => {
      const d = document.createElement("i");
      d.className = "venue-dot" + (present ? "" : " missing");
      d.dataset.venue = venue;
      d.style.borderColor = lr.venueColour(venue);
      if (present) d.style.background = lr.venueColour(venue);
      span.appendChild(d);
    };
    for (const v of c.venues || []) dot(v, true);
    for (const m of c.missing || []) dot(m.venue, false);
    return span;
  },
  badge(c) { // a partial or stale reading says so; a complete one shows nothing
    if (!c || !c.status || c.status === "complete") return null;
    const b = document.createElement("span");
    b.className = "coverage " + c.status;
    b.textContent = c.status;
    b.title = lr.coverageText(c);
    return b;
  },
  cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  },
};

(function asOfControl() {
  // the picker and the hour buttons reload the page at the chosen hour (the URL says it: shareable, replayable)
  const input = document.getElementById("asof-input");
  const go = (iso) => {
    const url = new URL(window.location.href);
    if (iso) url.searchParams.set("as_of", iso); else url.searchParams.delete("as_of");
    window.location.href = url.toString();
  };
  const step = (hours) => {
    const t = new Date((input.value || input.min) + ":00Z");
    t.setUTCHours(t.getUTCHours() + hours);
    go(t.toISOString().slice(0, 16) + "Z");
  };
  if (lr.asOf) {
    input.value = lr.asOf.slice(0, 16);
    const mode = document.getElementById("asof-mode");
    mode.textContent = "replay";
    mode.classList.add("replay");
  }
  // no stepping out of the store: nothing exists before its first bar or after its latest
  document.getElementById("asof-prev").disabled = !!input.min && input.value <= input.min;
  document.getElementById("asof-next").disabled = !!input.max && input.value >= input.max;
  input.addEventListener("change", () => { if (input.value) go(input.value + "Z"); });
  input.form.addEventListener("submit", (event) => { // Enter in the picker: that hour, not a bare reload
    event.preventDefault();
    if (input.value) go(input.value + "Z");
  });
  document.getElementById("asof-prev").addEventListener("click", () => step(-1));
  document.getElementById("asof-next").addEventListener("click", () => step(1));
  document.getElementById("asof-now").addEventListener("click", () => go(null));
})();
