/* fanzha console: countdown clocks, ECharts from data attributes, pausing live polls while someone is typing.
   No inline scripts anywhere (the Content-Security-Policy allows script files from this server only). */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tickClocks() {
    var now = Date.now();
    document.querySelectorAll("time[data-deadline]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(end)) { return; }
      var left = Math.round((end - now) / 1000);
      var sign = left < 0 ? "-" : "";
      var s = Math.abs(left);
      var text = sign + (s >= 3600 ? Math.floor(s / 3600) + ":" + pad(Math.floor(s % 3600 / 60)) : Math.floor(s / 60)) + ":" + pad(s % 60);
      if (el.textContent !== text) { el.textContent = text; }
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 300);
    });
  }

  function option(spec) {
    if (spec.type === "trend") {
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 48, right: 56, top: 32, bottom: 28 },
        xAxis: { type: "category", data: spec.days.map(function (d) { return d.slice(5); }) },
        yAxis: [{ type: "value", minInterval: 1 }, { type: "value", splitLine: { show: false } }],
        series: spec.series.map(function (s) {
          return { name: s.name, type: s.kind, data: s.data, yAxisIndex: s.axis || 0, smooth: s.kind === "line" };
        })
      };
    }
    if (spec.type === "bars") {
      return {
        tooltip: { trigger: "axis" },
        grid: { left: 40, right: 16, top: 16, bottom: 40 },
        xAxis: { type: "category", data: spec.labels, name: spec.name, nameLocation: "middle", nameGap: 26 },
        yAxis: { type: "value", minInterval: 1 },
        series: [{
          type: "bar", data: spec.values.map(function (v, i) {
            return { value: v, itemStyle: { color: i <= spec.mark ? "#15803d" : "#b91c1c" } };
          })
        }]
      };
    }
    if (spec.type === "sankey") {
      return {
        tooltip: {
          trigger: "item",
          formatter: function (p) {
            if (p.dataType === "edge") { return p.data.source + " → " + p.data.target + ": ¥" + p.data.value.toLocaleString(); }
            var held = p.data.held ? " · " + spec.held + " ¥" + p.data.held.toLocaleString() : "";
            return p.name + held;
          }
        },
        series: [{
          type: "sankey", data: spec.data.nodes, links: spec.data.links, nodeAlign: "left",
          emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", curveness: 0.5 },
          label: { fontSize: 11 }
        }]
      };
    }
    return null;
  }

  function initCharts(root) {
    if (typeof window.echarts === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec;
      try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      var opt = option(spec);
      if (!opt) { return; }
      var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el);
      chart.setOption(opt, true);
    });
  }

  function busy(el) {
    var active = document.activeElement;
    if (active && active !== document.body && el.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      return true;
    }
    return el.querySelector("details[open]") !== null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    tickClocks();
    window.setInterval(tickClocks, 1000);
    initCharts(document);
    window.addEventListener("resize", function () {
      document.querySelectorAll("[data-chart]").forEach(function (el) {
        var c = window.echarts && window.echarts.getInstanceByDom(el);
        if (c) { c.resize(); }
      });
    });
    if (window.htmx) {
      window.htmx.onLoad(function (elt) { initCharts(elt); tickClocks(); });
    }
  });

  // A live poll must not wipe a form someone is filling in: skip the poll while they are, and
  // drop a poll answer that arrives after they started (the poll left before the form opened).
  function pausedPoll(elt) {
    return elt && elt.hasAttribute && elt.hasAttribute("data-pause-when-busy") &&
      (busy(elt) || elt.querySelector(".htmx-request") !== null);
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (pausedPoll(evt.detail && evt.detail.elt)) { evt.preventDefault(); }
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-pause-when-busy") && pausedPoll(elt)) {
      evt.detail.shouldSwap = false;
    }
  });
  // Old chart instances go with the content htmx removes.
  document.addEventListener("htmx:beforeCleanupElement", function (evt) {
    var el = evt.detail && evt.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-chart") && window.echarts) {
      var c = window.echarts.getInstanceByDom(el);
      if (c) { c.dispose(); }
    }
  });
})();
