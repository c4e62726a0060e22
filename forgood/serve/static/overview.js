// The overview page (/): every campaign as a card, live from /api/events.
(function () {
  "use strict";
  var fg = window.forgood;
  var root = document.querySelector("[data-overview]");
  var grid = root.querySelector("[data-cards]");
  var empty = root.querySelector("[data-empty]");
  var cards = {};
  var setLive = fg.liveIndicator(root);

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function figure(cls, label, key) {
    var f = el("div", "figure " + cls);
    f.setAttribute("data-figure", key);
    var v = el("div", "v num", "0");
    f.appendChild(v);
    f.appendChild(el("div", "l", label));
    return { node: f, value: v };
  }

  function makeCard(c) {
    var a = el("a", "card");
    a.setAttribute("data-card", c.id);
    var h = el("h2");
    var np = el("p", "np");
    var figs = el("div", "figures");
    var videos = figure("", "videos made", "videos");
    var views = figure("views", "views", "views");
    var raised = figure("money", "raised", "raised");
    figs.appendChild(videos.node);
    figs.appendChild(views.node);
    figs.appendChild(raised.node);
    var progress = el("div", "progress-row");
    var bar = el("div", "bar");
    var fill = el("div", "fill");
    bar.appendChild(fill);
    var small = el("div", "small");
    var people = el("span");
    var pct = el("span", "pct");
    small.appendChild(people);
    small.appendChild(pct);
    progress.appendChild(bar);
    a.appendChild(h);
    a.appendChild(np);
    a.appendChild(figs);
    a.appendChild(progress);
    a.appendChild(small);
    var card = {
      node: a, h: h, np: np, fill: fill, progress: progress, people: people, pct: pct,
      videos: new fg.Roller(videos.value, fg.formatInt), views: new fg.Roller(views.value, fg.formatCompact),
      viewsEl: views.value, raised: null, raisedEl: raised.value
    };
    return card;
  }

  function render(c) {
    var card = cards[c.id];
    if (!card) {
      card = cards[c.id] = makeCard(c);
      insertSorted(card.node, c.id);
    }
    card.node.href = "/c/" + encodeURIComponent(c.id);
    card.h.textContent = c.name;
    card.np.textContent = c.nonprofit ? "for " + c.nonprofit : "";
    card.videos.set(c.videos);
    card.views.set(c.views);
    card.viewsEl.title = fg.plural(c.views, "view");
    card.viewsEl.setAttribute("data-exact", String(c.views));
    if (!card.raised) card.raised = new fg.Roller(card.raisedEl, function (v) { return v; });
    card.raised.format = function (v) { return fg.formatMinor(v, c.currency, c.currency_digits); };
    card.raised.set(c.donation_minor, c.raised);
    card.people.textContent = fg.plural(c.creators, "participant") + (c.removed ? " · " + fg.formatInt(c.removed) + " removed" : "");
    var pct = c.percent_of_cap != null ? c.percent_of_cap : c.percent_of_goal;
    var what = c.percent_of_cap != null ? "of cap " + c.cap : c.percent_of_goal != null ? "of goal" : "";
    card.progress.hidden = pct == null;
    if (pct != null) {
      card.fill.style.width = Math.min(100, pct) + "%";
      if (c.percent_of_cap == null) card.fill.classList.add("goal");
      card.pct.textContent = (pct >= 10 ? pct.toFixed(0) : pct.toFixed(1)) + "% " + what;
    } else {
      card.pct.textContent = "";
    }
    empty.hidden = Object.keys(cards).length > 0;
  }

  function insertSorted(node, id) {
    var after = null;
    var ids = Object.keys(cards).sort();
    var i = ids.indexOf(id);
    if (i >= 0 && i + 1 < ids.length) after = cards[ids[i + 1]].node;
    grid.insertBefore(node, after && after.parentNode === grid ? after : null);
  }

  function remove(c) {
    var card = cards[c.id];
    if (card) { grid.removeChild(card.node); delete cards[c.id]; }
    empty.hidden = Object.keys(cards).length > 0;
  }

  fg.follow("/api/events", {
    snapshot: function (body) {
      var seen = {};
      body.campaigns.forEach(function (c) { seen[c.id] = true; render(c); });
      Object.keys(cards).forEach(function (id) { if (!seen[id]) remove({ id: id }); });
      empty.hidden = body.campaigns.length > 0;
    },
    update: render,
    removed: remove,
    state: setLive
  });
})();
