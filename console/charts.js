// Bar charts with Chart.js (window.Chart, loaded by the page). Colours from the Okabe-Ito palette, which
// colour-blind readers can tell apart; every series is also named in the legend and every number is in the
// table under its chart, so colour is never the only carrier of meaning.

export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];

export function barChart(canvas, { labels, datasets, title, yTitle }) {
  window.Chart.getChart(canvas)?.destroy();
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${title}. Every number is in the table below.`);
  return new window.Chart(canvas, {
    type: "bar",
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { title: { display: true, text: title }, legend: { position: "bottom" } },
      scales: { y: { beginAtZero: true, title: { display: true, text: yTitle }, ticks: { precision: 0 } } },
    },
  });
}

// How many bars a chart draws: the bar datasets' elements (a line, like a mean, is not a bar).
export function barCount(canvas) {
  const chart = window.Chart.getChart(canvas);
  if (!chart) return 0;
  return chart.data.datasets.reduce((sum, dataset, i) => sum + ((dataset.type || "bar") === "bar" ? chart.getDatasetMeta(i).data.length : 0), 0);
}
