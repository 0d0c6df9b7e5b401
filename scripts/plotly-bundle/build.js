"use strict";
// node build.js (after `npm ci`): writes the dashboard's plotly.js bundle, with the licences of what it bundles
const esbuild = require("esbuild");
const InlineCSSPlugin = require("esbuild-plugin-inline-css");
const { version } = require("plotly.js/package.json");

const out = "../../src/levradar/web/vendor/plotly-levradar.min.js";
esbuild
  .build({
    entryPoints: ["./entry.js"],
    outfile: out,
    format: "iife",
    globalName: "Plotly",
    bundle: true,
    minify: true,
    legalComments: "eof",
    banner: { js: `/**\n* plotly.js (levradar: scatter + heatmap - minified) v${version}\n* Copyright 2012-2026, Plotly, Inc.\n* Licensed under the MIT license\n*/` },
    plugins: [InlineCSSPlugin()],
    define: { global: "window", "define.amd": "false", "process.env.NODE_DEBUG": "false" },
    target: "es2016",
  })
  .then(() => console.log(`wrote ${out} (plotly.js ${version})`));
