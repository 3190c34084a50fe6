// Dashboard: fetch the aggregates, draw four uPlot charts and the top tables.
// No inline script: the page passes its API URL in data attributes (the CSP forbids inline JS).
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;

  function fmt(n, digits) {
    return n === null || n === undefined ? "-" : Number(n).toFixed(digits);
  }

  // Small values (cost) need significant digits, not fixed decimals.
  function tick(u, values) {
    return values.map(function (v) { return v === 0 ? "0" : Math.abs(v) < 0.01 ? v.toPrecision(2) : String(v); });
  }

  function chart(id, data, series) {
    var el = document.getElementById(id);
    var width = Math.max(320, el.clientWidth || 600);
    series.forEach(function (s) { s.points = { show: true, size: 5 }; });
    var opts = {
      width: width,
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: [{}, { size: 70, values: tick }],
    };
    return new uPlot(opts, data, el);
  }

  function fillTable(id, rows, key) {
    var body = document.querySelector("#" + id + " tbody");
    body.textContent = "";
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      [row[key], String(row.requests), fmt(row.cost_usd, 6)].forEach(function (text, i) {
        var td = document.createElement("td");
        td.textContent = text;
        if (i > 0) td.className = "num";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  fetch(root.dataset.api, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) throw new Error("dashboard API answered " + response.status);
      return response.json();
    })
    .then(function (data) {
      window.headwayDashboard = data;
      var s = data.series, t = data.totals;
      document.getElementById("total-requests").textContent = String(t.requests);
      document.getElementById("total-errors").textContent = String(t.errors);
      document.getElementById("total-latency").textContent = fmt(t.p50_ms, 0) + " / " + fmt(t.p95_ms, 0) + " / " + fmt(t.p99_ms, 0);
      document.getElementById("total-cost").textContent = fmt(t.cost_usd, 6);
      document.getElementById("total-cache").textContent = String(t.cache_hits);
      chart("chart-requests", [s.time, s.requests, s.errors], [
        { label: "requests", stroke: "#3461c1", fill: "rgba(52,97,193,0.1)" },
        { label: "errors", stroke: "#d64545" },
      ]);
      chart("chart-latency", [s.time, s.p50_ms, s.p95_ms, s.p99_ms], [
        { label: "p50", stroke: "#1f9d55", spanGaps: true },
        { label: "p95", stroke: "#e08a00", spanGaps: true },
        { label: "p99", stroke: "#d64545", spanGaps: true },
      ]);
      chart("chart-cost", [s.time, s.cost_usd], [{ label: "USD", stroke: "#7a4cc2", fill: "rgba(122,76,194,0.1)" }]);
      chart("chart-cache", [s.time, s.cache_hits], [{ label: "cache hits", stroke: "#1f9d55" }]);
      fillTable("top-models", data.top_models, "model");
      fillTable("top-callers", data.top_callers, "caller");
      if (data.truncated) {
        document.getElementById("dashboard-note").textContent = "Showing the newest rows only: narrow the window for exact totals.";
      }
      document.body.dataset.ready = "1";
    })
    .catch(function (error) {
      document.getElementById("dashboard-note").textContent = String(error);
      document.body.dataset.ready = "error";
    });
})();
