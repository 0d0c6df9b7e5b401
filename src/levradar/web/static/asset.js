"use strict";
// The asset page: summary cards, the heatmap with the price line, funding, OI, regime timeline, scenarios, memo.
performance.mark("lr:plotly-ready"); // this script runs once plotly.js (loaded before it) has run
const asset = document.getElementById("title").dataset.asset;
const base = "/api/assets/" + encodeURIComponent(asset);
// typesetMath off: a title with two "$" amounts ("($3.37M) ... ($5.81M)") is text, not TeX (plotly.js would look for
// MathJax and warn that it is missing)
const CONFIG = { responsive: true, displaylogo: false, typesetMath: false };

function card(label, value, cls) {
  const div = document.createElement("div");
  div.className = "card";
  const b = document.createElement("b");
  b.textContent = value;
  if (cls) b.className = cls;
  div.append(label, b);
  document.getElementById("summary").appendChild(div);
}

function prefetched(path) { // the request asset.html made for this path, if it made one
  return (window.lrPrefetch || {})[path];
}

async function drawFigure(name) {
  const el = document.getElementById("chart-" + name);
  try {
    const fig = await lr.json(lr.at(`${base}/figures/${name}`), prefetched(`figures/${name}`));
    performance.mark(`lr:${name}-decoded`);
    await Plotly.newPlot(el, fig.data, fig.layout, CONFIG);
    performance.mark(`lr:${name}-drawn`);
  } catch (err) {
    el.textContent = `${name}: ${err.message}`;
    el.classList.add("error");
  }
}

function renderRead(r) {
  lr.showAsOf(r.as_of);
  const tag = document.getElementById("tag");
  tag.textContent = r.tag;
  tag.className = "tag " + (r.setup || "");
  const s = r.scores;
  card("Price", lr.price(r.price));
  card("LSI", lr.num(s.lsi), lr.level(s.lsi));
  card("Crowding (+ = longs)", lr.signed(s.crowding, 0), lr.level(s.crowding));
  card("Fragility", lr.num(s.fragility), lr.level(s.fragility));
  card("Squeeze long / short", `${lr.num(s.squeeze_long)} / ${lr.num(s.squeeze_short)}`);
  card("Funding", `${r.funding.regime || "–"} · ${r.funding.rate_8h === null ? "–" : lr.signed(100 * r.funding.rate_8h, 4)} % / 8h · ${lr.pct(r.funding.apr)} APR`);
  card("Funding spread across venues", r.funding.dispersion_8h === null ? "–" : (100 * r.funding.dispersion_8h).toFixed(4) + " % / 8h");
  card("OI (one-sided USD)", `${r.oi.regime || "–"} · ${lr.usd(r.oi.usd)} · ${lr.pct(r.oi.roc_24h)} 24h (coin)`);
  card("Pocket below", lr.pocket(r.liquidation.nearest_below));
  card("Pocket above", lr.pocket(r.liquidation.nearest_above));
  renderVenues(r);
  const evidence = document.getElementById("evidence");
  for (const line of r.evidence) {
    const li = document.createElement("li");
    li.textContent = line;
    evidence.appendChild(li);
  }
  if (!r.evidence.length) evidence.innerHTML = "<li class='muted'>no setup evidence</li>";
  const list = document.getElementById("contradictions");
  for (const c of r.contradictions) {
    const li = document.createElement("li");
    li.textContent = c.text;
    list.appendChild(li);
  }
  if (!r.contradictions.length) list.innerHTML = "<li class='muted'>none</li>";
}

function renderVenues(r) {
  // the venues behind the reading: funding per venue with its weight, OI share, and what is missing
  const cov = r.coverage || {};
  document.getElementById("marks").replaceChildren(lr.coverageMarks(cov));
  const badge = lr.badge(cov);
  if (badge) document.getElementById("badge").replaceChildren(badge);
  const note = document.getElementById("coverage");
  note.textContent = lr.coverageText(cov) + (r.funding.weighting ? ` · funding weighted ${r.funding.weighting.rule}` : "");
  note.className = "coverage-note " + (cov.status || "");
  const table = document.getElementById("venues");
  table.innerHTML = "<thead><tr><th>Venue</th><th>Price</th><th>Funding / 8h</th><th>Weight</th><th>Spread z</th><th>OI (USD, one-sided)</th><th>OI share</th></tr></thead><tbody></tbody>";
  for (const v of r.venues) {
    const tr = document.createElement("tr");
    const name = lr.cell(tr, v.venue + (v.funding.outlier ? " (outlier, capped)" : ""), v.funding.outlier ? "lvl3" : "");
    name.style.borderLeft = "4px solid " + lr.venueColour(v.venue);
    lr.cell(tr, lr.price(v.price), "num");
    lr.cell(tr, v.funding.rate_8h === null ? "–" : lr.signed(100 * v.funding.rate_8h, 4) + " %", "num");
    lr.cell(tr, v.funding.weight === null ? "–" : Math.round(100 * v.funding.weight) + " %", "num");
    lr.cell(tr, lr.num(v.funding.spread_z, 1), "num");
    lr.cell(tr, lr.usd(v.oi.usd), "num");
    lr.cell(tr, v.oi.share === null ? "–" : Math.round(100 * v.oi.share) + " %", "num");
    table.tBodies[0].appendChild(tr);
  }
  for (const m of cov.missing || []) {
    const tr = document.createElement("tr");
    tr.className = "missing";
    lr.cell(tr, m.venue + " (missing)", "muted").style.borderLeft = "4px dotted " + lr.venueColour(m.venue);
    lr.cell(tr, "last bar " + lr.when(m.last_bar), "muted");
    table.tBodies[0].appendChild(tr);
  }
}

function renderMemo(m) {
  const holder = document.getElementById("memo");
  for (const line of m.text.split("\n")) {
    const p = document.createElement("p");
    p.textContent = line;
    holder.appendChild(p);
  }
}

function renderScenarios(data) {
  const table = document.getElementById("scenarios");
  table.innerHTML = "<thead><tr><th>Move</th><th>Target</th><th>Forced</th><th>Cascade to</th><th>Amplification</th></tr></thead><tbody></tbody>";
  for (const s of data.scenarios) {
    const tr = document.createElement("tr");
    lr.cell(tr, lr.signed(s.move_pct, 1) + " %");
    lr.cell(tr, s.target_price.toLocaleString(undefined, { maximumSignificantDigits: 6 }), "num");
    lr.cell(tr, lr.usd(s.forced_usd), "num");
    lr.cell(tr, s.cascade ? lr.signed(s.cascade.final_move_pct, 2) + " %" : "–", "num");
    lr.cell(tr, s.cascade && s.cascade.amplification ? s.cascade.amplification.toFixed(2) + "×" : "–", "num");
    table.tBodies[0].appendChild(tr);
  }
}

async function load() {
  const read = lr.json(lr.at(base), prefetched("")).then(renderRead);
  const scen = lr.json(lr.at(base + "/scenarios"), prefetched("scenarios")).then(renderScenarios);
  const memo = lr.json(lr.at(base + "/memo"), prefetched("memo")).then(renderMemo);
  // performance.now() counts from the start of navigation: these are the times a user waits.
  // The heatmap first, the smaller charts once it is drawn: decoding their JSON while the heatmap draws held it up
  // (docs/heatmap.md §5). Every answer was asked for while plotly.js loaded (asset.html): they are here by now.
  const charts = drawFigure("heatmap").then(() => {
    window.levradarHeatmapMs = performance.now();
    return Promise.all(["funding", "oi", "timeline"].map(drawFigure));
  });
  const results = await Promise.allSettled([read, scen, memo, charts]);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) lr.status(failed[0].reason.message, true);
  window.levradarDrawnMs = performance.now();
  if (!failed.length) lr.status(lr.asOf ? "replaying a past hour" : "loaded " + lr.utcNow());
  document.body.dataset.loaded = "asset";
}
load();
