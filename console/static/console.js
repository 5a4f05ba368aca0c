// Draws the figures page's charts with the vendored Chart.js (no CDN). The data is the page's JSON island.
(function () {
  var island = document.getElementById("figures-data");
  if (!island || typeof Chart === "undefined") { return; }
  var report = JSON.parse(island.textContent);
  var pct = function (v) { return v === null ? null : Math.round(v * 1000) / 10; };
  var rateAxis = { position: "right", min: 0, max: 100, title: { display: true, text: "%" }, grid: { drawOnChartArea: false } };
  var countAxis = { beginAtZero: true, title: { display: true, text: "工单" }, ticks: { precision: 0 } };
  function draw(id, rows, kind) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    new Chart(canvas, {
      data: {
        labels: rows.map(function (r) { return r.label; }),
        datasets: [
          { type: kind, label: "工单数", data: rows.map(function (r) { return r.tickets; }), yAxisID: "y", backgroundColor: "rgba(11,99,197,.35)", borderColor: "#0b63c5" },
          { type: "line", label: "响应率 %", data: rows.map(function (r) { return pct(r.response_rate); }), yAxisID: "rate", borderColor: "#e8590c", spanGaps: true },
          { type: "line", label: "按时办结率 %", data: rows.map(function (r) { return pct(r.on_time_rate); }), yAxisID: "rate", borderColor: "#2b8a3e", spanGaps: true },
          { type: "line", label: "满意率 %", data: rows.map(function (r) { return pct(r.satisfaction_rate); }), yAxisID: "rate", borderColor: "#862e9c", spanGaps: true }
        ]
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: countAxis, rate: rateAxis },
                 plugins: { legend: { labels: { boxWidth: 12 } } } }
    });
  }
  draw("chart-groups", report.rows, "bar");
  draw("chart-weeks", report.weeks, "bar");
}());
