// The war room (issue 30): Apache ECharts charts fed by /warroom/data every 2 seconds, no page
// reload. Times on the axes in the warehouse's zone (data-zone), UTC in the tooltips. The last
// figures are kept on window.warroom and as data-* attributes of #warroom, so a test (or a
// person in the devtools) can read what the charts show.
(function () {
  "use strict";

  var EVERY_MS = 2000;
  var root, zone, charts = {}, bucket = "minute", timer = null, inFlight = false;
  var state = { updates: 0, bucket: bucket, orders: null, sla: null, stock: null, carriers: null, deadLetters: null };
  window.warroom = state;

  function fmt(options) {
    try { return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: zone, hourCycle: "h23" }, options)); }
    catch (e) { return new Intl.DateTimeFormat("en-GB", Object.assign({ timeZone: "UTC", hourCycle: "h23" }, options)); }
  }
  var minuteLabel, hourLabel, fullLabel;

  function label(iso) {
    var d = new Date(iso);
    return (bucket === "hour" ? hourLabel : minuteLabel).format(d);
  }
  function utc(iso) { return new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC"; }
  function local(iso) { return fullLabel.format(new Date(iso)); }
  function num(v) { return v === null || v === undefined ? null : Number(v); }
  function pct(ratio) { return ratio === null || ratio === undefined ? null : Math.round(Number(ratio) * 1e6) / 1e4; }
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }

  function tooltip(starts) {
    return {
      trigger: "axis",
      formatter: function (items) {
        if (!items.length) { return ""; }
        var iso = starts[items[0].dataIndex];
        var lines = [local(iso) + " (" + zone + ")", utc(iso)];
        items.forEach(function (it) {
          var v = Array.isArray(it.value) ? it.value[1] : it.value;
          lines.push(it.marker + it.seriesName + ": " + (v === null || v === undefined || v === "-" ? "—" : v));
        });
        return lines.join("<br>");
      }
    };
  }

  function chart(id) {
    if (!charts[id]) {
      var el = document.getElementById(id);
      charts[id] = window.echarts.init(el, null, { renderer: "canvas" });
    }
    return charts[id];
  }

  function timeChart(id, starts, series, yName, extra) {
    var option = {
      animation: false,
      grid: { left: 56, right: (extra && extra.right) || 16, top: 30, bottom: 40 },
      legend: { top: 0, data: series.map(function (s) { return s.name; }) },
      tooltip: tooltip(starts),
      xAxis: { type: "category", data: starts.map(label), axisLabel: { hideOverlap: true } },
      yAxis: Object.assign({ type: "value", name: yName, min: 0 }, (extra && extra.yAxis) || {}),
      series: series
    };
    chart(id).setOption(option, { notMerge: true });
  }

  function showError(part, message) {
    document.querySelectorAll('.part-error[data-part="' + part + '"]').forEach(function (el) {
      el.textContent = message || "";
    });
  }

  function drawOrders(data) {
    showError("orders", data.orders_error);
    if (!data.orders) { return; }
    var pts = data.orders.points, starts = pts.map(function (p) { return p.start; });
    state.orders = data.orders;
    timeChart("chart-gmv", starts, [
      { name: "GMV gross", type: "line", showSymbol: false, data: pts.map(function (p) { return num(p.gmv); }) },
      { name: "GMV net", type: "line", showSymbol: false, data: pts.map(function (p) { return num(p.gmv_net); }) }
    ], "CNY");
    timeChart("chart-orders", starts, [
      { name: "Orders", type: "bar", data: pts.map(function (p) { return p.orders; }) }
    ], "orders");
    timeChart("chart-basket", starts, [
      { name: "Average basket", type: "line", connectNulls: false, showAllSymbol: true, symbolSize: 7, data: pts.map(function (p) { return num(p.average_basket); }) }
    ], "CNY");
    timeChart("chart-conversion", starts, [
      { name: "Conversion %", type: "line", connectNulls: false, showAllSymbol: true, symbolSize: 7, data: pts.map(function (p) { return pct(p.conversion); }) }
    ], "%");
    var t = data.orders.totals;
    text("kpi-orders", String(t.orders));
    text("kpi-gmv", t.gmv);
    text("kpi-gmv-net", t.gmv_net);
    text("kpi-basket", t.average_basket === null ? "—" : t.average_basket);
    text("kpi-visitors", t.visitors === null ? "—" : String(t.visitors));
    text("kpi-conversion", t.conversion === null ? "—"
      : pct(t.conversion).toFixed(2) + " % (" + t.orders_with_traffic + " / " + t.visitors + ")");
    root.dataset.ordersTotal = String(t.orders);
    root.dataset.gmvTotal = t.gmv;
    root.dataset.visitorsTotal = t.visitors === null ? "" : String(t.visitors);
    root.dataset.ordersWithTraffic = String(t.orders_with_traffic);
    root.dataset.conversion = t.conversion === null ? "" : t.conversion;
  }

  function drawSla(data) {
    showError("sla", data.sla_error);
    if (!data.sla) { return; }
    var pts = data.sla.points, starts = pts.map(function (p) { return p.start; });
    var targets = data.sla.targets;
    state.sla = data.sla;
    timeChart("chart-dispatch", starts, [
      { name: "Parcels dispatched", type: "bar", data: pts.map(function (p) { return p.dispatched; }) }
    ], bucket === "hour" ? "per hour" : "per minute");
    function target(value, name) {
      return { silent: true, symbol: "none", lineStyle: { type: "dashed" },
               label: { position: "insideEndTop", formatter: name + " " + value + "%" }, data: [{ yAxis: value }] };
    }
    timeChart("chart-share", starts.map(function (s, i) { return pts[i].end; }), [
      { name: "Within 24 h", type: "line", showSymbol: false, data: pts.map(function (p) { return p.within_24h_pct; }),
        markLine: target(targets.within_24h_pct, "24 h target") },
      { name: "Within 48 h", type: "line", showSymbol: false, data: pts.map(function (p) { return p.within_48h_pct; }),
        markLine: target(targets.within_48h_pct, "48 h target") }
    ], "%", { yAxis: { max: 100 } });
  }

  function drawCarriers(data) {
    showError("carriers", data.carriers_error);
    if (!data.carriers) { return; }
    state.carriers = data.carriers;
    var names = data.carriers.map(function (c) { return c.code; });
    chart("chart-carriers").setOption({
      animation: false,
      grid: { left: 56, right: 16, top: 30, bottom: 30 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: names },
      yAxis: { type: "value", name: "parcels", min: 0 },
      series: [
        { name: "Used today", type: "bar", stack: "capacity", data: data.carriers.map(function (c) { return c.used_today; }) },
        { name: "Left today", type: "bar", stack: "capacity", data: data.carriers.map(function (c) { return c.remaining_today; }) }
      ]
    }, { notMerge: true });
  }

  function cell(tr, value, cls) {
    var td = document.createElement("td");
    td.textContent = value;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }

  function hours(value) { return typeof value === "number" ? value.toFixed(1) + " h" : "—"; }

  function drawStock(data) {
    showError("stock", data.stock_error);
    var rows = document.getElementById("stock-rows");
    if (data.stock_error) {
      var none = document.createElement("tr");
      cell(none, "—", "muted").colSpan = 6;
      rows.replaceChildren(none);
      return;
    }
    state.stock = data.stock;
    var fresh = [];
    data.stock.forEach(function (s) {
      var tr = document.createElement("tr");
      cell(tr, s.sku + (s.name ? " · " + s.name : ""));
      cell(tr, String(s.available));
      cell(tr, typeof s.sell_rate_per_hour === "number" ? s.sell_rate_per_hour.toFixed(1) : "—");
      cell(tr, hours(s.cover_hours), "cover");
      cell(tr, (s.mode || "").replace(/_/g, " "));
      var r = s.open_replenishment;
      var td = cell(tr, r ? r.quantity + " asked " : "—");
      if (r && r.requested_at) {
        var t = document.createElement("time");
        t.dateTime = r.requested_at;
        t.title = utc(r.requested_at);
        t.textContent = local(r.requested_at);
        td.appendChild(t);
        if (r.urgent) { td.appendChild(document.createTextNode(" · urgent")); }
      }
      fresh.push(tr);
    });
    if (!fresh.length) {
      var empty = document.createElement("tr");
      cell(empty, "No SKU in the catalogue yet.", "muted").colSpan = 6;
      fresh.push(empty);
    }
    rows.replaceChildren.apply(rows, fresh);
    var covered = data.stock.filter(function (s) { return typeof s.cover_hours === "number"; }).slice(0, 15);
    chart("chart-cover").setOption({
      animation: false,
      grid: { left: 110, right: 16, top: 10, bottom: 30 },
      title: covered.length ? undefined : { text: "No cover figures yet", left: "center", top: "middle",
                                            textStyle: { fontSize: 13, fontWeight: "normal", color: "#667085" } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", name: "h", min: 0 },
      yAxis: { type: "category", inverse: true, data: covered.map(function (s) { return s.sku; }) },
      series: [{ name: "Cover (h)", type: "bar", data: covered.map(function (s) { return s.cover_hours; }) }]
    }, { notMerge: true });
  }

  function drawDeadLetters(data) {
    showError("dead_letters", data.dead_letters_error);
    if (!data.dead_letters) { return; }
    state.deadLetters = data.dead_letters;
    text("kpi-dead-letters", String(data.dead_letters.total));
    var rows = document.getElementById("dead-letter-rows");
    var fresh = data.dead_letters.topics.map(function (c) {
      var tr = document.createElement("tr");
      cell(tr, c.topic);
      cell(tr, c.count === null ? "none yet" : String(c.count), c.count ? "bad" : "");
      return tr;
    });
    rows.replaceChildren.apply(rows, fresh);
  }

  // Each warehouse's figures beside the overall ones (issue 34); the card stays hidden with one
  // warehouse. Rows carry data-* of every figure, so a test compares them with logistics' /sla.
  function drawWarehouses(data) {
    showError("warehouses", data.warehouses_error);
    var card = document.getElementById("warroom-warehouses");
    if (!card || data.warehouses === undefined) { return; }
    if (!data.warehouses) { card.hidden = true; return; }
    card.hidden = false;
    state.warehouses = data.warehouses;
    var share = function (v) { return v === null || v === undefined ? "—" : v + " %"; };
    var rows = [{ warehouse: "", name: "Overall", overall: true }].concat(data.warehouses);
    var fresh = rows.map(function (w) {
      var f = w.overall ? (data.warehouses_overall || {}) : w;
      var tr = document.createElement("tr");
      tr.dataset.warehouse = w.warehouse;
      ["orders_paid", "shipped", "not_yet_shipped", "within_24h_pct", "within_48h_pct", "at_risk"].forEach(function (k) {
        tr.setAttribute("data-" + k.replace(/_/g, "-"), f[k] === null || f[k] === undefined ? "" : String(f[k]));
      });
      if (w.overall) { tr.className = "overall"; }
      cell(tr, w.overall ? "Overall" : w.name + " (" + w.warehouse + ")");
      cell(tr, f.orders_paid === undefined ? "—" : String(f.orders_paid));
      cell(tr, f.shipped === undefined ? "—" : String(f.shipped));
      cell(tr, f.not_yet_shipped === undefined ? "—" : String(f.not_yet_shipped));
      cell(tr, share(f.within_24h_pct), f.meets_24h_target === false && f.within_24h_pct !== null ? "bad" : "");
      cell(tr, share(f.within_48h_pct), f.meets_48h_target === false && f.within_48h_pct !== null ? "bad" : "");
      cell(tr, f.at_risk === null || f.at_risk === undefined ? "—" : String(f.at_risk), f.at_risk ? "bad" : "");
      return tr;
    });
    document.getElementById("warehouse-rows").replaceChildren.apply(document.getElementById("warehouse-rows"), fresh);
    text("warehouses-as-of", data.warehouses_as_of ? fullLabel.format(new Date(data.warehouses_as_of)) : "—");
  }

  function draw(data) {
    if (data.bucket !== bucket) { return; }  // an answer to the switch's previous setting
    drawOrders(data);
    drawSla(data);
    drawCarriers(data);
    drawStock(data);
    drawDeadLetters(data);
    drawWarehouses(data);
    state.updates += 1;
    state.bucket = bucket;
    root.dataset.updates = String(state.updates);
    root.dataset.bucket = bucket;
    text("warroom-updated", fullLabel.format(new Date(data.now)));
    text("warroom-status", "");
  }

  function poll() {
    timer = null;
    if (inFlight) { return schedule(); }
    inFlight = true;
    fetch(root.dataset.feed + "?bucket=" + encodeURIComponent(bucket),
          { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.redirected || !r.ok) { throw new Error(r.status === 403 ? "not allowed" : "sign-in needed"); }
        return r.json();
      })
      .then(draw)
      .catch(function (e) {
        text("warroom-status", "Live updates paused (" + e.message + "); the figures shown are the last ones. "
             + "Reload the page or sign in again.");
      })
      .then(function () { inFlight = false; schedule(); });
  }

  function schedule() { if (timer === null) { timer = setTimeout(poll, document.hidden ? EVERY_MS * 5 : EVERY_MS); } }

  function switchTo(next) {
    bucket = next;
    document.querySelectorAll(".warroom-switch .bucket").forEach(function (b) {
      var on = b.getAttribute("data-bucket") === next;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    if (timer !== null) { clearTimeout(timer); timer = null; }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    root = document.getElementById("warroom");
    if (!root || !window.echarts) { return; }
    zone = root.dataset.zone || "UTC";
    minuteLabel = fmt({ hour: "2-digit", minute: "2-digit" });
    hourLabel = fmt({ day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit" });
    fullLabel = fmt({ day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
                      second: "2-digit", timeZoneName: "short" });
    document.querySelectorAll(".warroom-switch .bucket").forEach(function (b) {
      b.addEventListener("click", function () { switchTo(b.getAttribute("data-bucket")); });
    });
    window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
    poll();
  });
})();
