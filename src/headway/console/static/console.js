// Dashboard: fetch the aggregates, draw the uPlot charts (UTC axes), tiles and tables.
// No inline script: the page passes its API URL in data attributes (the CSP forbids inline JS).
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) return;

  var PATH_COLOURS = {
    primary: "#1f9d55", retry: "#7fbf3f", hedge: "#2a9d8f", fallback: "#e08a00",
    cache: "#3461c1", "stale-cache": "#8a63d2", degraded: "#c2410c", error: "#d64545"
  };

  function fmt(n, digits) {
    return n === null || n === undefined ? "-" : Number(n).toFixed(digits);
  }

  function utc(epoch) {
    return epoch ? new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19) : "-";
  }

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  // Small values (cost) need significant digits, not fixed decimals.
  function tick(u, values) {
    return values.map(function (v) { return v === 0 ? "0" : Math.abs(v) < 0.01 ? v.toPrecision(2) : String(v); });
  }

  // Time ticks as UTC clock times (with the date when the window spans days), like the tables.
  function utcTicks(u, splits) {
    var span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
    return splits.map(function (ts) {
      var iso = new Date(ts * 1000).toISOString();
      return span > 86400 ? iso.slice(5, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
    });
  }

  function chart(id, data, series) {
    var el = document.getElementById(id);
    var width = Math.max(280, (el.clientWidth || 600) - 4);
    series.forEach(function (s) { s.points = { show: true, size: 5 }; });
    var opts = {
      width: width,
      height: 220,
      // One time zone everywhere: the tables print UTC, so the axes do too.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { x: { time: true } },
      series: [{ label: "UTC" }].concat(series),
      axes: [{ values: utcTicks }, { size: 72, values: tick }],
    };
    return new uPlot(opts, data, el);
  }

  function fill(id, rows) {
    var body = document.querySelector("#" + id + " tbody");
    body.textContent = "";
    if (!rows.length) {
      var empty = document.createElement("tr");
      var cell = document.createElement("td");
      cell.colSpan = document.querySelectorAll("#" + id + " thead th").length;
      cell.className = "note";
      cell.textContent = "none";
      empty.appendChild(cell);
      body.appendChild(empty);
      return;
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      if (row.className) tr.className = row.className;
      row.cells.forEach(function (value, i) {
        var td = document.createElement("td");
        td.textContent = value;
        if (row.numeric && row.numeric.indexOf(i) >= 0) td.className = "num";
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  function samples(data, name) {
    return (data.signals.metrics[name] || []);
  }

  function sum(list) {
    return list.reduce(function (a, s) { return a + s.value; }, 0);
  }

  function flag(id, bad) {
    document.getElementById(id).classList.toggle("alarm", bad);
  }

  fetch(root.dataset.api, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) throw new Error("dashboard API answered " + response.status);
      return response.json();
    })
    .then(function (data) {
      window.headwayDashboard = data;
      var s = data.series, t = data.totals, sig = data.signals;
      text("total-requests", String(t.requests));
      text("total-errors", String(t.errors));
      text("total-failed", String(t.failed));
      flag("tile-failed", t.failed > 0);
      text("total-not-asked", String(t.not_asked_model));
      text("total-not-asked-detail", "fallback " + t.paths.fallback + " · stale " + t.paths["stale-cache"] + " · degraded " + t.paths.degraded);
      flag("tile-not-asked", t.not_asked_model > 0);
      var open = sig.breakers.filter(function (b) { return b.state !== "closed"; });
      text("total-breakers", String(sig.breakers.filter(function (b) { return b.state === "open"; }).length));
      text("total-breakers-detail", open.map(function (b) { return b.deployment + " " + b.state; }).join(", ") || sig.breakers.length + " closed");
      flag("tile-breakers", open.length > 0);
      var firing = sig.alerts.filter(function (a) { return a.state === "firing"; });
      text("total-alerts", String(firing.length));
      text("total-alerts-detail", firing.map(function (a) { return a.rule; }).join(", ") || sig.alerts.length + " rules, none firing");
      flag("tile-alerts", firing.length > 0);
      text("total-latency", fmt(t.p50_ms, 0) + " / " + fmt(t.p95_ms, 0) + " / " + fmt(t.p99_ms, 0));
      text("total-cost", fmt(t.cost_usd, 6));
      text("total-cache", String(t.cache_hits));
      var backlog = samples(data, "headway_review_queue_items");
      var age = samples(data, "headway_review_queue_oldest_age_seconds");
      text("total-review-backlog", backlog.length ? String(sum(backlog)) : "-");
      text("total-review-age", age.length ? "oldest " + fmt(sum(age), 0) + " s" : "no review queue");
      var outbox = samples(data, "headway_webhook_outbox_pending");
      text("total-outbox", outbox.length ? String(sum(outbox)) : "-");

      var pathNames = Object.keys(s.paths);
      chart("chart-paths", [s.time].concat(pathNames.map(function (p) { return s.paths[p]; })),
        pathNames.map(function (p) { return { label: p, stroke: PATH_COLOURS[p] || "#555" }; }));
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

      fill("paths", pathNames.map(function (p) {
        return { cells: [p, String(t.paths[p])], numeric: [1], className: t.paths[p] && ["fallback", "stale-cache", "degraded", "error"].indexOf(p) >= 0 ? "bad" : "" };
      }));
      fill("breakers", sig.breakers.map(function (b) { return { cells: [b.deployment, b.state], className: b.state === "closed" ? "" : "bad" }; }));
      fill("alerts", sig.alerts.map(function (a) { return { cells: [a.rule, a.state, utc(a.since)], className: a.state === "firing" ? "bad" : "" }; }));
      var outcomes = [];
      Object.keys(data.pipeline_runs || {}).forEach(function (k) { outcomes.push({ cells: ["pipeline runs", k, String(data.pipeline_runs[k])], numeric: [2], className: k === "failed" ? "bad" : "" }); });
      Object.keys(data.retrieval.outcomes).forEach(function (k) { outcomes.push({ cells: ["retrieval (RAG)", k, String(data.retrieval.outcomes[k])], numeric: [2], className: k === "failed" ? "bad" : "" }); });
      if (data.retrieval.p95_ms !== null) outcomes.push({ cells: ["retrieval p50/p95 ms", "", fmt(data.retrieval.p50_ms, 0) + " / " + fmt(data.retrieval.p95_ms, 0)], numeric: [2] });
      Object.keys(data.contracts).forEach(function (k) { outcomes.push({ cells: ["output contract", k, String(data.contracts[k])], numeric: [2], className: k === "failed" ? "bad" : "" }); });
      Object.keys(data.reviews).forEach(function (k) { outcomes.push({ cells: ["reviews", k, String(data.reviews[k])], numeric: [2] }); });
      Object.keys(sig.metrics).forEach(function (name) {
        if (!/^headway_(pipeline|retrieval)_.*_total$/.test(name)) return;
        sig.metrics[name].forEach(function (m) {
          var labels = Object.keys(m.labels).map(function (k) { return m.labels[k]; }).join(" ");
          outcomes.push({ cells: [name.replace(/^headway_/, "").replace(/_total$/, "").replace(/_/g, " ") + " (this replica)", labels, String(m.value)], numeric: [2] });
        });
      });
      fill("outcomes", outcomes);
      fill("top-models", data.top_models.map(function (r) { return { cells: [r.model, String(r.requests), fmt(r.cost_usd, 6)], numeric: [1, 2] }; }));
      fill("top-callers", data.top_callers.map(function (r) { return { cells: [r.caller, String(r.requests), fmt(r.cost_usd, 6)], numeric: [1, 2] }; }));
      if (data.truncated) {
        text("dashboard-note", "Showing the newest rows only: narrow the window for exact totals.");
      }
      document.body.dataset.ready = "1";
    })
    .catch(function (error) {
      text("dashboard-note", String(error));
      document.body.dataset.ready = "error";
    });
})();
