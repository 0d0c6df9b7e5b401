"use strict";
// Shared helpers of the levradar dashboard: fetching the API, number formats, colour levels.
const lr = {
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
  num(v, digits = 0) { return v === null || v === undefined ? "–" : Number(v).toFixed(digits); },
  pct(v, digits = 1) { return v === null || v === undefined ? "–" : (v >= 0 ? "+" : "") + (100 * v).toFixed(digits) + " %"; },
  usd(v) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    if (a >= 1e9) return "$" + (v / 1e9).toFixed(2) + " B";
    if (a >= 1e6) return "$" + (v / 1e6).toFixed(1) + " M";
    if (a >= 1e3) return "$" + (v / 1e3).toFixed(0) + " k";
    return "$" + v.toFixed(0);
  },
  level(v) { // 0..100 score → colour class
    if (v === null || v === undefined) return "";
    const a = Math.abs(v);
    return a >= 75 ? "lvl3" : a >= 50 ? "lvl2" : a >= 25 ? "lvl1" : "lvl0";
  },
  pocket(p) { return p ? `${p.distance_pct.toFixed(1)} % · ${lr.usd(p.usd)}` : "–"; },
  when(iso) { return iso ? iso.replace("T", " ").replace(":00Z", " UTC") : ""; },
  coverageText(c) { // who the reading rests on, and who is missing
    if (!c || !c.status) return "";
    const missing = (c.missing || []).map((m) => `${m.venue} (last bar ${lr.when(m.last_bar)})`).join(", ");
    return `${c.status}: read from ${(c.venues || []).join(", ")} (${Math.round(100 * (c.weight_present ?? 0))} % of its weight)` +
      (missing ? `; missing ${missing}` : "");
  },
  cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  },
};
