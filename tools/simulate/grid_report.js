// The what-if grid report's charts (copied next to grid.html with echarts.min.js). The data come
// from the page's JSON block; every time label is already in the warehouse's local time.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("grid-data").textContent);
  var label = { overall: "overall", presale: "presale", high_value: "high-value", standard: "standard" };
  var colors = { overall: "#444444", presale: "#7b3fa0", high_value: "#d1832b", standard: "#3a7ebf" };

  function shares(id, key, target, title) {
    var chart = echarts.init(document.getElementById(id));
    chart.setOption({
      title: { text: title, left: "center" },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "n/a" : v.toFixed(1) + "%"; } },
      legend: { top: 28 },
      grid: { top: 70, left: 50, right: 80, bottom: 60 },
      xAxis: { type: "category", data: data.runs, axisLabel: { rotate: 30 } },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: data.groups.map(function (g, i) {
        var s = { name: label[g], type: "bar", data: data.shares[key][g], itemStyle: { color: colors[g] } };
        if (i === 0) {
          s.markLine = { symbol: "none", lineStyle: { color: "#c0392b", type: "dashed" },
                         label: { formatter: "target " + target + "%" }, data: [{ yAxis: target }] };
        }
        return s;
      })
    });
    return chart;
  }

  function lines(id, axis, series, title, yName, target) {
    var chart = echarts.init(document.getElementById(id));
    chart.setOption({
      title: { text: title, left: "center" },
      tooltip: { trigger: "axis" },
      legend: { top: 28, type: "scroll" },
      grid: { top: 70, left: 60, right: 80, bottom: 60 },
      xAxis: { type: "category", data: axis, name: data.time_zone, nameLocation: "middle", nameGap: 40 },
      yAxis: { type: "value", name: yName, min: 0 },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 16, bottom: 4 }],
      series: series.map(function (s, i) {
        var out = { name: s.name, type: "line", showSymbol: false, connectNulls: true, data: s.data };
        if (target !== undefined && i === 0) {
          out.markLine = { symbol: "none", lineStyle: { color: "#c0392b", type: "dashed" },
                           label: { formatter: "target " + target + "%" }, data: [{ yAxis: target }] };
        }
        return out;
      })
    });
    return chart;
  }

  var charts = [
    shares("chart-24h", "within_24h_pct", data.targets.within_24h_pct, "Shipped within 24h of payment, per run and class"),
    shares("chart-48h", "within_48h_pct", data.targets.within_48h_pct, "Shipped within 48h of payment, per run and class"),
    lines("chart-backlog", data.backlog_axis, data.backlog, "Orders waiting (to ship or for stock), local time", "orders"),
    lines("chart-hourly", data.hourly_axis, data.hourly, "Share of each hour's orders shipped within 24h (by hour of payment)",
          "%", data.targets.within_24h_pct)
  ];
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
