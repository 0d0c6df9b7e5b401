"use strict";
// The radar table: every asset, sortable, colour-coded; live (refreshed every 30 s) or replaying ?as_of=.
const table = document.getElementById("radar");
let rows = [];
let sortKey = "lsi", sortDesc = true;

function withoutInputs(s) { // the LSI inputs it had to do without (no funding or no OI data at that hour)
  const comps = s.lsi_components || {};
  return [["funding_stress", "funding"], ["oi_change", "OI"]].filter(([k]) => comps[k] && !comps[k].used).map(([, n]) => n);
}

function flatten(r) {
  const s = r.scores, liq = r.liquidation || {};
  const squeeze = Math.max(s.squeeze_long ?? -1, s.squeeze_short ?? -1);
  return {
    asset: r.asset, tag: r.tag, setup: r.setup, lsi: s.lsi, lsiWithout: withoutInputs(s),
    crowding: s.crowding, fragility: s.fragility,
    squeeze: squeeze < 0 ? null : squeeze,
    squeezeSide: (s.squeeze_long ?? 0) >= (s.squeeze_short ?? 0) ? "long" : "short",
    price: r.price, rate8h: r.funding.rate_8h, apr: r.funding.apr, funding: r.funding.regime || "–",
    oiUsd: r.oi.usd, oi24h: r.oi.roc_24h, oi: r.oi.regime || "–",
    below: liq.nearest_below ? liq.nearest_below.distance_pct : null, belowPocket: liq.nearest_below,
    above: liq.nearest_above ? liq.nearest_above.distance_pct : null, abovePocket: liq.nearest_above,
    ret: r.returns.ret_24h,
    coverage: r.coverage || {}, venuesCount: ((r.coverage || {}).venues || []).length,
    measured: liq.measured || [],
  };
}

function measuredMark(measured) { // positions measured within 6 h of the hour: venue, snapshot and coverage on hover
  const span = document.createElement("span");
  span.className = "measured-mark";
  span.textContent = "measured";
  const share = (c) => (c === null || c === undefined ? "?" : Math.round(100 * c) + " %");
  span.title = measured.map((m) => `measured on ${m.venue}, ${String(m.snapshot).slice(0, 16).replace("T", " ")} UTC`
    + ` — ${share(m.coverage_long)} of longs' / ${share(m.coverage_short)} of shorts' OI`).join("; ");
  return span;
}

function twoLines(tr, top, bottom, cls) { // a number with its regime under it
  const td = lr.cell(tr, top, cls);
  const small = document.createElement("small");
  small.textContent = bottom;
  td.append(small);
  return td;
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
    link.href = lr.at("/assets/" + encodeURIComponent(r.asset));
    link.textContent = r.asset;
    const name = lr.cell(tr, "");
    name.appendChild(link);
    const badge = lr.badge(r.coverage);
    if (badge) name.append(" ", badge);
    if (r.measured.length) name.append(" ", measuredMark(r.measured));
    lr.cell(tr, "", "venues-cell").appendChild(lr.coverageMarks(r.coverage));
    const tag = lr.cell(tr, "");
    const chip = document.createElement("span");
    chip.className = "tag " + (r.setup || "");
    chip.textContent = r.tag;
    tag.appendChild(chip);
    const lsi = lr.cell(tr, lr.num(r.lsi) + (r.lsiWithout.length ? "*" : ""), "num lsi " + lr.level(r.lsi));
    if (r.lsiWithout.length) lsi.title = "computed without " + r.lsiWithout.join(" and ") + " data";
    lr.cell(tr, lr.signed(r.crowding, 0), "num " + lr.level(r.crowding));
    lr.cell(tr, lr.num(r.fragility), "num " + lr.level(r.fragility));
    lr.cell(tr, r.squeeze === null ? "–" : `${lr.num(r.squeeze)} ${r.squeezeSide}`, "num " + lr.level(r.squeeze));
    lr.cell(tr, lr.price(r.price), "num price");
    twoLines(tr, r.rate8h === null || r.rate8h === undefined ? "–" : lr.signed(100 * r.rate8h, 4) + " %", r.funding, "num funding");
    lr.cell(tr, lr.pct(r.apr, 1), "num apr");
    twoLines(tr, lr.usd(r.oiUsd), r.oi, "num oi");
    lr.cell(tr, lr.pct(r.oi24h, 1), "num oi24h");
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
    const data = await lr.json(lr.at("/api/radar"));
    rows = data.assets.map(flatten);
    lr.showAsOf(data.as_of);
    render();
    lr.status(lr.asOf ? "replaying a past hour: not refreshed" : "updated " + lr.utcNow());
    document.body.dataset.loaded = "radar";
  } catch (err) {
    lr.status("radar unavailable: " + err.message, true);
  }
}
refresh();
if (!lr.asOf) setInterval(refresh, 30000);
