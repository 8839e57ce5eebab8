// The ops panel refreshes itself: every few seconds it reads state.json and updates each
// element that names a value of it (data-state="traffic.api_track_order.served_5m.new"), and
// redraws the charts with the geometry the server drew them with. Without this script the
// page shows the same figures as of its loading, and every control works (plain forms).
(function () {
  "use strict";
  var root = document.getElementById("strangler-panel");
  if (!root) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  var url = root.dataset.stateUrl;
  var every = Number(root.dataset.pollSeconds || "5") * 1000;

  // "routes.api_track_order.mode": in a list, a step names the item whose "route" it is.
  function lookup(state, path) {
    return path.split(".").reduce(function (value, key) {
      if (value === null || value === undefined) { return value; }
      if (Array.isArray(value)) {
        return value.find(function (item) { return item.route === key; });
      }
      return value[key];
    }, state);
  }

  function formatted(value, format) {
    if (format === "switch") {
      return value ? "ENGAGED: every route is served by legacy" : "lifted";
    }
    if (value === null || value === undefined) { return "–"; }
    if (format === "percent") { return value + " %"; }
    return String(value);
  }

  function redraw(svg, minutes) {
    var left = Number(svg.dataset.left), right = Number(svg.dataset.right);
    var top = Number(svg.dataset.top), bottom = Number(svg.dataset.bottom);
    var step = (right - left) / Math.max(minutes.length - 1, 1);
    var runs = [[]];
    minutes.forEach(function (minute, index) {
      var value = minute[svg.dataset.chartField];
      if (value === null || value === undefined) {
        if (runs[runs.length - 1].length) { runs.push([]); }
        return;
      }
      var x = left + index * step, y = top + (100 - value) / 100 * (bottom - top);
      runs[runs.length - 1].push(x.toFixed(1) + "," + y.toFixed(1));
    });
    var group = svg.querySelector(".series-lines");
    while (group.firstChild) { group.removeChild(group.firstChild); }
    var last = null;
    runs.forEach(function (run) {
      if (!run.length) { return; }
      var line = document.createElementNS(SVG, "polyline");
      line.setAttribute("class", "series");
      line.setAttribute("points", (run.length > 1 ? run : [run[0], run[0]]).join(" "));
      group.appendChild(line);
      last = run[run.length - 1].split(",");
    });
    var latest = null;
    minutes.forEach(function (minute) {
      var value = minute[svg.dataset.chartField];
      if (value !== null && value !== undefined) { latest = value; }
    });
    if (last) {
      var marker = document.createElementNS(SVG, "circle");
      marker.setAttribute("class", "latest");
      marker.setAttribute("cx", last[0]);
      marker.setAttribute("cy", last[1]);
      marker.setAttribute("r", "3.5");
      group.appendChild(marker);
    }
    var label = svg.querySelector(".latest-label");
    if (label) { label.textContent = latest === null ? "" : "latest " + latest + " %"; }
  }

  function apply(state) {
    root.querySelectorAll("[data-state]").forEach(function (element) {
      element.textContent = formatted(lookup(state, element.dataset.state), element.dataset.format);
    });
    var kill = document.getElementById("kill-state");
    if (kill) { kill.classList.toggle("panel-kill-engaged", state.kill_switch.engaged); }
    root.querySelectorAll("svg[data-chart-route]").forEach(function (svg) {
      var figures = state.traffic[svg.dataset.chartRoute];
      if (figures) { redraw(svg, figures.minutes); }
    });
    var refreshed = document.getElementById("panel-refreshed");
    if (refreshed) { refreshed.textContent = "at " + new Date().toLocaleTimeString(); }
    root.dataset.version = String(state.version);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("state.json answered " + response.status); }
        return response.json();
      })
      .then(apply)
      .catch(function (error) {
        var refreshed = document.getElementById("panel-refreshed");
        if (refreshed) { refreshed.textContent = "not refreshed (" + error.message + ")"; }
      })
      .finally(function () { window.setTimeout(poll, every); });
  }

  window.setTimeout(poll, every);
}());
