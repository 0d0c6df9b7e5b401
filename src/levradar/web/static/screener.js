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
        a.textContent = r.asset + (r.side ? ` (${r.side})` : "");
        lr.cell(tr, "").appendChild(a);
        lr.cell(tr, lr.num(r.score), "num " + lr.level(r.score));
        lr.cell(tr, lr.signed(r.vs_market, 0), "num");
        lr.cell(tr, r.vs_own_history_pct === null ? "–" : (100 * r.vs_own_history_pct).toFixed(0) + " pct", "num");
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
