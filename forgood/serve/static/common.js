// forgood counters: shared helpers (formatting, rolling numbers, progress, chart, live stream).
// Plain browser JavaScript, no build step. Exposes window.forgood.
(function (global) {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var reduceMotion = global.matchMedia && global.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var integer = new Intl.NumberFormat("en-US");
  var moneyFormats = {};

  function formatInt(n) { return integer.format(n); }

  // Big counts short enough to read at a glance: grouped digits below 10,000, then "33K",
  // "6.8M", "81M", "1.2B" (the exact figure goes in a title or an "exact" line beside it).
  var compact = null;
  try { compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }); } catch (e) {}
  function formatCompact(n) {
    if (n < 10000 || !compact) return integer.format(n);
    return compact.format(n);
  }

  // `count` `word`(s): "1 view", "81,000,000 views".
  function plural(count, word) { return integer.format(count) + " " + word + (count === 1 ? "" : "s"); }

  function moneyFormat(currency, digits) {
    var key = currency + ":" + digits;
    if (!moneyFormats[key]) {
      try {
        moneyFormats[key] = new Intl.NumberFormat("en-US", {
          style: "currency", currency: currency, minimumFractionDigits: digits, maximumFractionDigits: digits
        });
      } catch (e) {
        moneyFormats[key] = { format: function (v) { return v.toFixed(digits) + " " + currency; } };
      }
    }
    return moneyFormats[key];
  }

  // Minor units to text, e.g. (123456, "USD", 2) -> "$1,234.56".
  function formatMinor(minor, currency, digits) {
    return moneyFormat(currency, digits).format(minor / Math.pow(10, digits));
  }

  // Shrink an element's font until `text` fits its width (big numbers on narrow screens).
  function fit(el, text) {
    el.style.fontSize = "";
    var shown = el.textContent;
    el.textContent = text;
    var avail = el.clientWidth, need = el.scrollWidth;
    if (avail > 0 && need > avail) {
      var size = parseFloat(getComputedStyle(el).fontSize);
      el.style.fontSize = Math.max(10, Math.floor(size * avail / need * 0.96)) + "px";
    }
    el.textContent = shown;
  }
  var rollers = [];
  var resizeTimer = null;
  global.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      rollers.forEach(function (r) { if (r.shown !== null) fit(r.el, r.finalText || r.format(r.to)); });
    }, 100);
  });

  // A number shown in an element that rolls smoothly to each new value (requestAnimationFrame).
  // `finalText`, when given, is shown once the roll ends (the server's own formatting).
  function Roller(el, format, duration) {
    this.el = el;
    this.format = format;
    this.duration = duration || 900;
    this.shown = null;
    this.from = 0;
    this.to = 0;
    this.start = 0;
    this.finalText = null;
    this.running = false;
    this.step = this.step.bind(this);
    rollers.push(this);
  }
  Roller.prototype.set = function (target, finalText) {
    this.el.setAttribute("data-value", String(target));
    this.finalText = finalText || null;
    fit(this.el, finalText || this.format(target));
    if (this.shown === null || reduceMotion || document.hidden) {
      this.shown = this.to = target;
      this.running = false;
      this.el.textContent = finalText || this.format(target);
      return;
    }
    if (target === this.to) {
      if (!this.running) this.el.textContent = finalText || this.format(target);
      return;
    }
    this.from = this.shown;
    this.to = target;
    this.start = performance.now();
    if (!this.running) {
      this.running = true;
      requestAnimationFrame(this.step);
    }
  };
  Roller.prototype.step = function (now) {
    if (!this.running) return;
    var p = Math.min(1, Math.max(0, (now - this.start) / this.duration));
    var eased = 1 - Math.pow(1 - p, 3);
    this.shown = Math.round(this.from + (this.to - this.from) * eased);
    if (p < 1) {
      this.el.textContent = this.format(this.shown);
      requestAnimationFrame(this.step);
    } else {
      this.shown = this.to;
      this.running = false;
      this.el.textContent = this.finalText || this.format(this.to);
    }
  };

  function setText(root, field, text) {
    var els = root.querySelectorAll('[data-field="' + field + '"]');
    for (var i = 0; i < els.length; i++) els[i].textContent = text == null ? "" : String(text);
  }

  // Show a progress row (data-progress="cap" or "goal") or hide it when there is no target.
  function setProgress(row, percent) {
    if (!row) return;
    if (percent == null) { row.hidden = true; return; }
    row.hidden = false;
    var fill = row.querySelector(".fill");
    var bar = row.querySelector(".bar");
    var width = Math.max(0, Math.min(100, percent));
    fill.style.width = width + "%";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(Math.round(width)));
    var pct = row.querySelector(".pct");
    if (pct) pct.textContent = (percent >= 10 ? percent.toFixed(0) : percent.toFixed(1)) + "%";
  }

  function svgEl(name, attrs, text) {
    var el = document.createElementNS(SVG, name);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    if (text != null) el.textContent = text;
    return el;
  }

  // Slide a videos_per_minute series forward to the current minute (new minutes are 0 until the
  // server says otherwise): `receivedAt` is when the series arrived (ms since the epoch).
  function slide(points, receivedAt) {
    var steps = Math.floor(Date.now() / 60000) - Math.floor(receivedAt / 60000);
    if (!points.length || steps <= 0) return points;
    var last = Date.parse(points[points.length - 1].minute);
    var out = points.slice();
    for (var i = 1; i <= Math.min(steps, points.length); i++) {
      out.push({ minute: new Date(last + i * 60000).toISOString().replace(".000Z", "Z"), videos: 0 });
    }
    return out.slice(-points.length);
  }

  // An inline SVG bar chart of videos per minute (oldest left, current minute right).
  function drawChart(svg, points) {
    var W = 600, H = 150, left = 40, right = 6, top = 12, bottom = 22;
    var n = points.length || 1;
    var max = 0;
    for (var i = 0; i < points.length; i++) max = Math.max(max, points[i].videos);
    var scaleMax = niceMax(max);
    var plotW = W - left - right, plotH = H - top - bottom, bw = plotW / n;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.appendChild(svgEl("line", { x1: left, y1: top + plotH, x2: W - right, y2: top + plotH, "class": "axis" }));
    svg.appendChild(svgEl("line", { x1: left, y1: top, x2: W - right, y2: top, "class": "axis", "stroke-dasharray": "3 4" }));
    svg.appendChild(svgEl("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, formatInt(scaleMax)));
    svg.appendChild(svgEl("text", { x: left - 6, y: top + plotH + 4, "text-anchor": "end" }, "0"));
    svg.appendChild(svgEl("text", { x: left, y: H - 5 }, "60 min ago"));
    svg.appendChild(svgEl("text", { x: W - right, y: H - 5, "text-anchor": "end" }, "now"));
    for (var j = 0; j < points.length; j++) {
      var v = points[j].videos;
      var h = scaleMax ? Math.round((v / scaleMax) * plotH * 10) / 10 : 0;
      if (v > 0 && h < 1.5) h = 1.5;
      var rect = svgEl("rect", {
        x: (left + j * bw + 1).toFixed(1), y: (top + plotH - h).toFixed(1),
        width: Math.max(1, bw - 2).toFixed(1), height: h.toFixed(1), rx: 1.5,
        "class": "bar-rect" + (j === points.length - 1 ? " now" : "")
      });
      rect.appendChild(svgEl("title", {}, (points[j].minute ? points[j].minute.slice(11, 16) + " UTC: " : "") + formatInt(v) + " videos"));
      svg.appendChild(rect);
    }
    var total = 0;
    for (var k = 0; k < points.length; k++) total += points[k].videos;
    svg.setAttribute("aria-label", "videos per minute in the last hour: " + formatInt(total) + " in all, at most " + formatInt(max) + " in a minute");
  }

  function niceMax(max) {
    if (max <= 5) return 5;
    var p = Math.pow(10, Math.floor(Math.log10(max)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= max) return steps[i] * p;
    return 10 * p;
  }

  // Follow a Server-Sent-Events URL. handlers: {snapshot, update, removed, state(name), failed()}.
  // EventSource reconnects by itself after network errors; after an HTTP error (404, 503) it
  // gives up, so we open a new one after a pause.
  function follow(url, handlers) {
    var source = null;
    function state(name) { if (handlers.state) handlers.state(name); }
    function open() {
      source = new EventSource(url);
      source.onopen = function () { state("live"); };
      ["snapshot", "update", "removed"].forEach(function (name) {
        source.addEventListener(name, function (ev) {
          state("live");
          if (handlers[name]) handlers[name](JSON.parse(ev.data));
        });
      });
      source.onerror = function () {
        if (source.readyState === EventSource.CLOSED) {
          source.close();
          state("down");
          if (handlers.failed) handlers.failed();
          setTimeout(open, 3000);
        } else {
          state("reconnecting");
        }
      };
    }
    open();
    return { close: function () { if (source) source.close(); } };
  }

  function liveIndicator(root) {
    var dot = root.querySelector("[data-live]");
    var text = root.querySelector("[data-live-text]");
    return function (name) {
      if (dot) dot.className = "live-dot " + (name === "live" ? "on" : "off");
      if (text) text.textContent = name === "live" ? "live" : name === "down" ? "offline — retrying" : "reconnecting…";
    };
  }

  function formatDate(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  }

  function campaignIdFromPath() {
    var parts = location.pathname.split("/").filter(Boolean);
    return decodeURIComponent(parts[parts.length - 1] || "");
  }

  global.forgood = {
    formatInt: formatInt, formatCompact: formatCompact, plural: plural, fit: fit, formatMinor: formatMinor, Roller: Roller, setText: setText, setProgress: setProgress,
    drawChart: drawChart, slide: slide, follow: follow, liveIndicator: liveIndicator, formatDate: formatDate,
    campaignIdFromPath: campaignIdFromPath
  };
})(window);
