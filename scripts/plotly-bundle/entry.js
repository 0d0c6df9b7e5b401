"use strict";
// plotly.js's core (which holds the scatter trace) and the heatmap trace: the only trace types the dashboard draws
const Plotly = require("plotly.js/lib/core");
Plotly.register([require("plotly.js/lib/heatmap")]);
module.exports = Plotly;
