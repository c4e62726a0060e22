// The campaign page's per-video parts: the top videos table and the "Did my video count?" form.
// Both read the API (GET /api/campaigns/{id} for top_videos, GET /api/campaigns/{id}/videos/{video_id}
// for a lookup); the live counters stay counter.js's. Plain browser JavaScript, no build step.
(function () {
  "use strict";
  var fg = window.forgood;
  var root = document.querySelector("[data-campaign]");
  var id = fg.campaignIdFromPath();
  var MAX_ID_LENGTH = 128;  // forgood.domain.events.MAX_ID_LENGTH
  // After a pushed update, read the top videos again this much later (ms): the list comes from
  // what the sink has written to ClickHouse, a moment after the counters, and the service caches
  // it for 5 s, so updates arriving meanwhile are coalesced into one read.
  var TOP_REFRESH_MS = 5000;
  if (!root || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) return;
  var base = "/api/campaigns/" + encodeURIComponent(id);

  // --- time in words -------------------------------------------------------------------------

  var minuteFormat = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC", hour12: false
  });
  var secondFormat = new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    timeZone: "UTC", hour12: false
  });
  function when(iso, seconds) {
    if (!iso) return "";
    return (seconds ? secondFormat : minuteFormat).format(new Date(iso)) + " UTC";
  }

  function el(name, attrs, text) {
    var node = document.createElement(name);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text != null) node.textContent = String(text);
    return node;
  }

  // --- top videos ----------------------------------------------------------------------------

  var table = root.querySelector("[data-top-table]");
  var rows = root.querySelector("[data-top-rows]");
  var note = root.querySelector("[data-top-note]");
  var asOf = root.querySelector("[data-top-as-of]");
  var topTimer = null;

  function renderTop(c) {
    var list = c.top_videos;
    while (rows.firstChild) rows.removeChild(rows.firstChild);
    if (!list || !list.length) {
      table.hidden = true;
      note.hidden = false;
      note.textContent = list ? "No counted videos yet." : "Top videos are not available right now.";
    } else {
      note.hidden = true;
      table.hidden = false;
      list.forEach(function (v, i) {
        var tr = el("tr", { "data-video": v.video_id });
        tr.appendChild(el("td", { "class": "rank" }, i + 1));
        tr.appendChild(el("td", { "class": "video", title: v.video_id + " · created " + when(v.minute) }, v.video_id));
        ["views", "likes", "shares", "comments"].forEach(function (name) {
          var attrs = { "data-col": name };
          if (name === "shares" || name === "comments") attrs["class"] = "opt";  // left out on phones
          tr.appendChild(el("td", attrs, fg.formatInt(v[name])));
        });
        rows.appendChild(tr);
      });
    }
    asOf.hidden = !c.top_videos_as_of;
    asOf.textContent = c.top_videos_as_of
      ? "The " + (list && list.length === 1 ? "counted video" : "counted videos") + " with the most views, as of " +
        when(c.top_videos_as_of, true) + " (refreshed every few seconds)."
      : "";
  }

  function refreshTop() {
    topTimer = null;
    fetch(base, { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(renderTop).catch(function () {
      if (table.hidden) { note.hidden = false; note.textContent = "Top videos are not available right now."; }
    });
  }

  root.addEventListener("forgood:campaign", function () {
    if (!topTimer) topTimer = setTimeout(refreshTop, TOP_REFRESH_MS);
  });
  refreshTop();

  // --- did my video count? ---------------------------------------------------------------------

  var form = root.querySelector("[data-lookup]");
  var input = root.querySelector("[data-lookup-input]");
  var result = root.querySelector("[data-lookup-result]");
  var asked = 0;

  var REASONS = {
    creator_deleted: "deleted by its creator", moderation: "moderation", fraud: "fraud", appeal: "appeal",
    other: "other reason", before_start: "before start", after_end: "after end"
  };
  function reasonWords(reason) { return reason ? REASONS[reason] || reason : ""; }

  // The answer in words, as `forgood video` prints it (forgood.audit.lookup.VideoLookup.in_words).
  function statusWords(answer) {
    var why = reasonWords(answer.reason);
    if (answer.status === "counted") return "Counted";
    if (answer.status === "removed") return why ? "Removed (" + why + ")" : "Removed";
    if (answer.status === "outside_window") {
      return why ? "Outside the campaign window (" + why + ")" : "Outside the campaign window";
    }
    return "Not found for this campaign";
  }

  var EXPLAIN = {
    counted: "It counts: the campaign donates for it.",
    removed: "It was taken down, so it is not counted and earns no donation (unless it is restored).",
    outside_window: "It carried the campaign's hashtag but was posted outside the campaign's dates, so it does not count.",
    unknown: "Check the id, and that the video carried one of the campaign's hashtags. A video posted moments ago " +
      "may take a few seconds to appear."
  };

  function show(kind, title, lines) {
    while (result.firstChild) result.removeChild(result.firstChild);
    result.setAttribute("data-status", kind);
    result.appendChild(el("p", { "class": "answer", "data-answer": "" }, title));
    if (lines && lines.length) {
      var dl = el("dl");
      lines.forEach(function (pair) {
        dl.appendChild(el("dt", {}, pair[0]));
        dl.appendChild(el("dd", pair[2] || {}, pair[1]));
      });
      result.appendChild(dl);
    }
  }

  function answered(answer) {
    var lines = [["Video", answer.video_id, { "data-answer-video": "" }]];
    if (answer.minute) {
      lines.push(["Posted in the minute of", when(answer.minute), { "data-answer-minute": "", "class": "when" }]);
    }
    if (answer.status_at) {
      lines.push(["Status since", when(answer.status_at, true), { "data-answer-status-at": "", "class": "when" }]);
    }
    show(answer.status, statusWords(answer), lines);
    var explain = EXPLAIN[answer.status];
    if (explain) result.appendChild(el("p", { "class": "note" }, explain));
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var videoId = input.value.trim();
    if (!videoId) { show("error", "Enter the id of your video."); input.focus(); return; }
    if (videoId.length > MAX_ID_LENGTH) {
      show("error", "That is not a video id: ids are at most " + MAX_ID_LENGTH + " characters.");
      return;
    }
    var mine = ++asked;  // only the latest question's answer is shown
    show("checking", "Checking…");
    result.setAttribute("aria-busy", "true");
    fetch(base + "/videos/" + encodeURIComponent(videoId), { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, body: body }; });
      })
      .then(function (res) {
        if (mine !== asked) return;
        if (res.status === 200) answered(res.body);
        else if (res.status === 503) show("error", "The check is unavailable right now. Please try again in a moment.");
        else show("error", res.body.message || "The check failed (HTTP " + res.status + ").");
      })
      .catch(function () {
        if (mine === asked) show("error", "The check is unavailable right now. Please try again in a moment.");
      })
      .then(function () { if (mine === asked) result.removeAttribute("aria-busy"); });
  });
})();
