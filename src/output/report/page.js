// objspy report: draws the page from the JSON in #objspy-data. Every string from the
// recording goes into the document as text (textContent), never as markup.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("objspy-data").textContent);
  const root = document.getElementById("report");
  root.textContent = "";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    root.appendChild(e);
    return e;
  }
  function child(parent, tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    parent.appendChild(e);
    return e;
  }
  const fmtInt = (n) => (n === null || n === undefined ? "-" : Number(n).toLocaleString("en-US"));
  const fmtNum = (n, d) => (n === null || n === undefined ? "-" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d }));
  const fmtTime = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "-");
  function fmtSpan(s) {
    if (!(s > 0)) return "0 s";
    if (s < 120) return fmtNum(s, 1) + " s";
    if (s < 7200) return fmtNum(s / 60, 1) + " min";
    if (s < 172800) return fmtNum(s / 3600, 1) + " h";
    return fmtNum(s / 86400, 1) + " days";
  }

  // A chart as wide as the page. series: [{label, stroke, values, points, dash}].
  function chart(title, xs, series, height) {
    const holder = el("div", "chart");
    const width = Math.max(320, Math.min(root.clientWidth || 1050, 1100) - 8);
    const opts = {
      title: title,
      width: width,
      height: height || 260,
      scales: { x: { time: true } },
      axes: [{}, { size: 70 }],
      series: [{}].concat(series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: s.width || 1.5,
        dash: s.dash,
        points: s.points ? { show: true, size: 5, stroke: s.stroke, fill: s.stroke } : { show: false },
        paths: s.points ? () => null : undefined,
      }))),
    };
    new uPlot(opts, [xs].concat(series.map((s) => s.values)), holder);
    return holder;
  }

  // The page.
  el("h1", null, "objspy leak report");
  el("p", "sub", "Process " + data.pid + (data.python_version ? ", Python " + data.python_version : "") + ", from " + data.source);

  el("h2", null, "Recording");
  const facts = el("dl", "facts");
  function fact(k, v, cls) {
    child(facts, "dt", null, k);
    child(facts, "dd", cls, v);
  }
  fact("From", fmtTime(data.first_t));
  fact("To", fmtTime(data.last_t));
  fact("Span", fmtSpan(data.last_t - data.first_t));
  fact("Censuses", fmtInt(data.censuses));
  fact("Ranked", fmtInt(data.ranked.samples) + " (complete or nearly so)");
  if (data.untrusted) fact("Incomplete", fmtInt(data.untrusted) + " (shown, not ranked)", "warn");
  if (data.failed) fact("Failed", fmtInt(data.failed) + " censuses could not be taken", "warn");
  if (data.paused) fact("Pauses", fmtInt(data.paused) + " censuses held the target: " + fmtNum(data.pause_mean_ms, 1) + " ms on average, " + fmtNum(data.pause_max_ms, 1) + " ms at most");
  if (data.reattaches) fact("Re-attached", fmtInt(data.reattaches) + " times (the target executed a new image)", "warn");
  if (data.exited) fact("End", "the target exited");

  el("h2", null, "Objects over time");
  const tl = data.timeline;
  const trusted = tl.total.map((v, i) => (tl.trusted[i] ? v : null));
  const untrusted = tl.total.map((v, i) => (tl.trusted[i] ? null : v));
  const series = [{ label: "GC-tracked objects", stroke: "#2b6cb0", values: trusted }];
  if (data.untrusted) series.push({ label: "incomplete census", stroke: "#d69e2e", values: untrusted, points: true });
  chart("Total objects", tl.t, series);
  if (tl.rss_bytes.some((v) => v !== null)) {
    el("h2", null, "Process memory");
    el("p", "note", "The target's resident set size (RSS, from /proc/PID/smaps_rollup) read with each census, next to its objects above.");
    chart("RSS (MiB)", tl.t, [{ label: "RSS (MiB)", stroke: "#2f855a", values: tl.rss_bytes.map((v) => (v === null ? null : v / 1048576)) }], 200);
  }
  if (tl.pause_ms.some((v) => v !== null))
    chart("Pause per census (ms)", tl.t, [{ label: "pause (ms)", stroke: "#805ad5", values: tl.pause_ms }], 160);

  el("h2", null, "Leak suspects");
  const ranked = data.ranked;
  el("p", "note", "Types ranked by sustained growth: slope × fit × (rising − falling steps), over " + fmtInt(ranked.samples) +
    " censuses" + (ranked.hours > 0 ? " in " + fmtSpan(ranked.hours * 3600) : "") + "." +
    (ranked.folded ? " More than " + fmtInt(ranked.max_types) + " types were seen: " + fmtInt(ranked.other_types) +
      " of them (" + fmtInt(ranked.other_objects) + " objects at the end) were summed as \u201cother\u201d, not ranked." : ""));
  if (!data.suspects.length) {
    el("p", null, ranked.samples < 3 ? "Too few complete censuses to rank (3 needed)." : "No type grew steadily: no leak suspects.");
  } else {
    const table = el("table");
    const head = child(child(table, "thead"), "tr");
    [["#", "num"], ["type", null], ["confidence", null], ["per hour", "num"], ["first", "num"], ["last", "num"], ["fit r²", "num"],
      ["rising", "num"], ["share of growth", "num"]].forEach(([h, c]) => child(head, "th", c, h));
    const body = child(table, "tbody");
    data.suspects.forEach((s, i) => {
      const tr = child(body, "tr");
      child(tr, "td", "num", i + 1);
      child(tr, "td", "name", s.name);
      child(child(tr, "td"), "span", "conf conf-" + (["high", "medium", "low"].includes(s.confidence) ? s.confidence : "low"), s.confidence);
      child(tr, "td", "num", (s.per_hour >= 0 ? "+" : "") + fmtNum(s.per_hour, 1));
      child(tr, "td", "num", fmtInt(s.first));
      child(tr, "td", "num", fmtInt(s.last));
      child(tr, "td", "num", fmtNum(s.r2, 3));
      child(tr, "td", "num", fmtNum(s.rising * 100, 0) + "%");
      child(tr, "td", "num", fmtNum(s.share * 100, 1) + "%");
    });
    data.suspects.forEach((s, i) => {
      el("h3", null, (i + 1) + ". " + s.name);
      el("p", "note", s.confidence + " confidence: " + (s.per_hour >= 0 ? "+" : "") + fmtNum(s.per_hour, 1) + " per hour, " +
        fmtInt(s.first) + " \u2192 " + fmtInt(s.last));
      const line = s.t.map((t) => s.line_at_start + s.per_hour * (t - data.series_start) / 3600);
      chart("", s.t, [
        { label: "count", stroke: "#c53030", values: s.counts },
        { label: "fitted line", stroke: "#718096", values: line, dash: [6, 4], width: 1 },
      ], 200);
    });
  }

  if (data.failed) {
    el("h2", null, "Failed censuses");
    const table = el("table");
    const head = child(child(table, "thead"), "tr");
    child(head, "th", "num", "times");
    child(head, "th", null, "message");
    const body = child(table, "tbody");
    data.failures.forEach((f) => {
      const tr = child(body, "tr");
      child(tr, "td", "num", fmtInt(f.count));
      child(tr, "td", null, f.message);
    });
    if (data.failures_other) {
      const tr = child(body, "tr");
      child(tr, "td", "num", fmtInt(data.failures_other));
      child(tr, "td", "note", "other messages");
    }
  }
  el("p", "note", "Made by objspy from a recording of objspy record. Counts are GC-tracked objects, as gc.get_objects() sees them.");
  document.body.setAttribute("data-ready", "1");
})();
