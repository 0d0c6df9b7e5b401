"use strict";
// The radar table: every asset, sortable, colour-coded, refreshed every 30 s.
const table = document.getElementById("radar");
let rows = [];
let sortKey = "lsi", sortDesc = true;

function flatten(r) {
  const s = r.scores, liq = r.liquidation || {};
  const squeeze = Math.max(s.squeeze_long ?? -1, s.squeeze_short ?? -1);
  return {
    asset: r.asset, tag: r.tag, setup: r.setup, lsi: s.lsi, crowding: s.crowding, fragility: s.fragility,
    squeeze: squeeze < 0 ? null : squeeze,
    squeezeSide: (s.squeeze_long ?? 0) >= (s.squeeze_short ?? 0) ? "long" : "short",
    funding: r.funding.regime || "–", oi: r.oi.regime || "–",
    below: liq.nearest_below ? liq.nearest_below.distance_pct : null, belowPocket: liq.nearest_below,
    above: liq.nearest_above ? liq.nearest_above.distance_pct : null, abovePocket: liq.nearest_above,
    ret: r.returns.ret_24h,
    coverage: r.coverage || {},
  };
}

function render() {
  const sorted = [...rows].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return sortDesc ? -order : order;
  });
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const r of sorted) {
    const tr = document.createElement("tr");
    tr.dataset.asset = r.asset;
    const link = document.createElement("a");
    link.href = "/assets/" + encodeURIComponent(r.asset);
    link.textContent = r.asset;
    const name = lr.cell(tr, "");
    name.appendChild(link);
    const status = r.coverage.status;
    if (status && status !== "complete") {
      const badge = document.createElement("span");
      badge.className = "coverage " + status;
      badge.textContent = status;
      badge.title = lr.coverageText(r.coverage);
      name.append(" ", badge);
    }
    const tag = lr.cell(tr, "");
    const chip = document.createElement("span");
    chip.className = "tag " + (r.setup || "");
    chip.textContent = r.tag;
    tag.appendChild(chip);
    lr.cell(tr, lr.num(r.lsi), "num " + lr.level(r.lsi));
    lr.cell(tr, lr.num(r.crowding), "num " + lr.level(r.crowding));
    lr.cell(tr, lr.num(r.fragility), "num " + lr.level(r.fragility));
    lr.cell(tr, r.squeeze === null ? "–" : `${lr.num(r.squeeze)} ${r.squeezeSide}`, "num " + lr.level(r.squeeze));
    lr.cell(tr, r.funding);
    lr.cell(tr, r.oi);
    lr.cell(tr, lr.pocket(r.belowPocket), "num");
    lr.cell(tr, lr.pocket(r.abovePocket), "num");
    lr.cell(tr, lr.pct(r.ret), "num " + (r.ret < 0 ? "lvl3" : "lvl0"));
    tr.addEventListener("click", () => { window.location.href = link.href; });
    body.appendChild(tr);
  }
  for (const th of table.tHead.rows[0].cells) {
    th.classList.toggle("sorted-desc", th.dataset.key === sortKey && sortDesc);
    th.classList.toggle("sorted-asc", th.dataset.key === sortKey && !sortDesc);
  }
}

for (const th of table.tHead.rows[0].cells) {
  th.addEventListener("click", () => {
    sortDesc = th.dataset.key === sortKey ? !sortDesc : th.dataset.num !== undefined;
    sortKey = th.dataset.key;
    render();
  });
}

async function refresh() {
  try {
    const data = await lr.json("/api/radar");
    rows = data.assets.map(flatten);
    document.getElementById("asof").textContent = "as of " + lr.when(data.as_of);
    render();
    lr.status("updated " + new Date().toLocaleTimeString());
    document.body.dataset.loaded = "radar";
  } catch (err) {
    lr.status("radar unavailable: " + err.message, true);
  }
}
refresh();
setInterval(refresh, 30000);
