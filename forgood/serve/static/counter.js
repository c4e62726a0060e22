// The campaign page (/c/{id}) and the embed widget (/embed/{id}): one campaign, live.
(function () {
  "use strict";
  var fg = window.forgood;
  var root = document.querySelector("[data-campaign]");
  var id = fg.campaignIdFromPath();
  var embed = document.body.classList.contains("embed");
  var rollers = {};
  var chart = root.querySelector("[data-chart]");
  var series = null, receivedAt = 0, lastMinute = "";
  var setLive = fg.liveIndicator(root);
  var message = root.querySelector("[data-message]");
  var content = root.querySelectorAll("[data-content]");

  function roller(name, format) {
    if (!rollers[name]) {
      var el = root.querySelector('[data-counter="' + name + '"]');
      rollers[name] = el ? new fg.Roller(el, format) : { set: function () {} };
    }
    return rollers[name];
  }

  // The exact count as the element's tooltip (and, for a compact figure, its accessible name).
  function exact(name, count, word, selector) {
    var el = root.querySelector(selector || '[data-counter="' + name + '"]');
    if (!el) return;
    el.title = fg.plural(count, word);
    el.setAttribute("data-exact", String(count));
  }

  function showMessage(text) {
    if (!message) return;
    message.hidden = !text;
    message.textContent = text || "";
    for (var i = 0; i < content.length; i++) content[i].hidden = !!text;
    if (text) {
      fg.setText(root, "name", "Campaign not found");
      var line = root.querySelector("[data-nonprofit-line]");
      if (line) line.hidden = true;
    }
  }

  function render(c) {
    showMessage("");
    document.title = c.name + (embed ? "" : " — live counter · forgood");
    fg.setText(root, "name", c.name);
    fg.setText(root, "nonprofit", c.nonprofit || "");
    fg.setText(root, "cap", c.cap || "");
    fg.setText(root, "goal", c.goal_videos == null ? "" : fg.formatInt(c.goal_videos) + " videos");
    fg.setText(root, "hashtags", (c.hashtags || []).map(function (t) { return "#" + t; }).join(" "));
    fg.setText(root, "window", c.starts_at ? fg.formatDate(c.starts_at) + " – " + fg.formatDate(c.ends_at) : "");
    fg.setText(root, "updated", c.updated_at ? new Date(c.updated_at).toLocaleTimeString() : "—");
    var nonprofitLine = root.querySelector("[data-nonprofit-line]");
    if (nonprofitLine) nonprofitLine.hidden = !c.nonprofit;
    roller("videos", fg.formatInt).set(c.videos);
    roller("views", fg.formatCompact).set(c.views);
    exact("views", c.views, "view");
    fg.setText(root, "views-exact", fg.formatInt(c.views));  // the exact figure, beside likes, shares ...
    ["likes", "shares", "comments"].forEach(function (name) {
      fg.setText(root, name, fg.formatCompact(c[name]));
      exact(name, c[name], name.slice(0, -1), '[data-stat="' + name + '"]');
    });
    var removed = root.querySelector('[data-stat="removed"]');
    if (removed) {
      removed.hidden = !c.removed;
      fg.setText(root, "removed", fg.formatInt(c.removed));
      fg.setText(root, "removed-word", c.removed === 1 ? "video" : "videos");
    }
    roller("creators", fg.formatInt).set(c.creators);
    roller("raised", function (v) { return fg.formatMinor(v, c.currency, c.currency_digits); }).set(c.donation_minor, c.raised);
    var cap = root.querySelector('[data-progress="cap"]');
    var goal = root.querySelector('[data-progress="goal"]');
    fg.setProgress(cap, c.percent_of_cap);
    fg.setProgress(goal, embed && c.percent_of_cap != null ? null : c.percent_of_goal);
    var link = root.querySelector("[data-page-link]");
    if (link) link.href = "/c/" + encodeURIComponent(c.id);
    // Other scripts of the page (videos.js) follow the campaign through this event.
    root.dispatchEvent(new CustomEvent("forgood:campaign", { detail: c }));
    if (chart && c.videos_per_minute) {
      series = c.videos_per_minute;
      receivedAt = Date.now();
      lastMinute = "";
      drawNow();
    }
  }

  function drawNow() {
    if (!series) return;
    var points = fg.slide(series, receivedAt);
    var key = points.length ? points[points.length - 1].minute + ":" + receivedAt : "";
    if (key === lastMinute) return;
    lastMinute = key;
    fg.drawChart(chart, points);
  }

  function failed() {
    fetch("/api/campaigns/" + encodeURIComponent(id)).then(function (r) {
      if (r.status === 404 || r.status === 400) {
        return r.json().then(function (body) { showMessage(body.message || "no such campaign"); });
      }
    }).catch(function () {});
  }

  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) {
    showMessage("no campaign '" + id + "'");
    return;
  }
  if (chart) setInterval(drawNow, 5000);
  fg.follow("/api/campaigns/" + encodeURIComponent(id) + "/events", {
    snapshot: render, update: render, state: setLive, failed: failed
  });
})();
