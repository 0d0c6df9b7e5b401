"use strict";
// The screener: three ranked lists from /api/screener, at the page's as-of.
const TITLES = { most_crowded: "Most crowded", most_fragile: "Most fragile", highest_squeeze_risk: "Highest squeeze risk" };

async function load() {
  try {
    const data = await lr.json(lr.at("/api/screener"));
    lr.showAsOf(data.as_of);
    const holder = document.getElementById("screens");
    for (const [key, title] of Object.entries(TITLES)) {
      const section = document.createElement("section");
      const h = document.createElement("h2");
      h.textContent = title;
      const table = document.createElement("table");
      table.innerHTML = "<thead><tr><th>Asset</th><th>Score</th><th>vs market</th><th>vs own history</th><th>Tag</th></tr></thead><tbody></tbody>";
      for (const r of data[key]) {
        const tr = document.createElement("tr");
        const a = document.createElement("a");
        a.href = lr.at("/assets/" + encodeURIComponent(r.asset));
        // crowding has a side: + longs crowded, − shorts crowded (the score ranks its size)
        const crowded = key === "most_crowded" && r.crowding ? (r.crowding > 0 ? "longs crowded" : "shorts crowded") : null;
        const side = r.side || crowded;
        a.textContent = r.asset + (side ? ` (${side})` : "");
        lr.cell(tr, "").appendChild(a);
        const score = key === "most_crowded" ? lr.signed(r.crowding, 0) : lr.num(r.score);
        lr.cell(tr, score, "num score " + lr.level(r.score));
        lr.cell(tr, lr.signed(r.vs_market, 0), "num");
        const pct = r.vs_own_history_pct;
        lr.cell(tr, pct === null ? "–" : lr.ordinal(Math.round(100 * pct)) + " percentile", "num");
        lr.cell(tr, r.tag);
        table.tBodies[0].appendChild(tr);
      }
      section.append(h, table);
      holder.appendChild(section);
    }
    lr.status(lr.asOf ? "replaying a past hour" : "loaded " + lr.utcNow());
    document.body.dataset.loaded = "screener";
  } catch (err) {
    lr.status("screener unavailable: " + err.message, true);
  }
}
load();
