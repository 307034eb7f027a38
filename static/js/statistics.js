// The statistics page's charts, drawn from the numbers of its tables (#statistics-data); the
// tables stay the accessible alternative.
(function () {
  "use strict";
  var COLORS = {
    delivered: "#1a7f37", sent: "#1f6feb", failed: "#c62828", unknown: "#9a6700", canceled: "#e57373",
    scheduled: "#8e9aaf", sending: "#b0b8c4", queued: "#d0d5dd", received: "#7e57c2"
  };

  function draw() {
    var source = document.getElementById("statistics-data");
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.animation = false;
    var daily = document.querySelector('canvas[data-chart="daily"]');
    if (daily) {
      new Chart(daily, {
        type: "bar",
        data: {
          labels: data.daily.labels,
          datasets: data.daily.datasets.map(function (set) {
            return { label: set.label, data: set.data, stack: set.stack, backgroundColor: COLORS[set.status] || "#999" };
          })
        },
        options: {
          responsive: true,
          scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: data.daily.axis },
                                               ticks: { precision: 0 } } },
          plugins: { legend: { position: "bottom" } }
        }
      });
      daily.dataset.drawn = "1";
    }
    var phones = document.querySelector('canvas[data-chart="phones"]');
    if (phones) {
      new Chart(phones, {
        type: "bar",
        data: {
          labels: data.phones.labels,
          datasets: [
            { label: data.phones.rate_label, data: data.phones.rate, backgroundColor: COLORS.delivered, xAxisID: "rate" },
            { label: data.phones.segments_label, data: data.phones.segments, backgroundColor: COLORS.sent, xAxisID: "segments" }
          ]
        },
        options: {
          indexAxis: "y",
          responsive: true,
          scales: {
            rate: { type: "linear", position: "top", min: 0, max: 100, title: { display: true, text: data.phones.rate_label } },
            segments: { type: "linear", position: "bottom", beginAtZero: true, ticks: { precision: 0 },
                        title: { display: true, text: data.phones.segments_label }, grid: { drawOnChartArea: false } }
          },
          plugins: { legend: { position: "bottom" } }
        }
      });
      phones.dataset.drawn = "1";
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
