// tinyreason's site: sortable tables, a run's question table (filter, search, one question), two runs side by side.
// Model and dataset text is only ever set through textContent, never as HTML.
"use strict";
var tinyreason = (function () {
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function hashParams() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf("=");
      out[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1));
    });
    return out;
  }
  function setHash(params) {
    location.hash = Object.keys(params).filter(function (k) { return params[k] !== undefined && params[k] !== ""; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function sortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th").forEach(function (th, col) {
        th.addEventListener("click", function () {
          var body = table.tBodies[0], num = th.dataset.type === "num", asc = th.dataset.asc !== "1";
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = a.cells[col].dataset.sort !== undefined ? a.cells[col].dataset.sort : a.cells[col].textContent;
            var y = b.cells[col].dataset.sort !== undefined ? b.cells[col].dataset.sort : b.cells[col].textContent;
            if (num) { x = parseFloat(x); y = parseFloat(y); x = isNaN(x) ? -Infinity : x; y = isNaN(y) ? -Infinity : y; }
            return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
          });
          rows.forEach(function (r) { body.appendChild(r); });
          th.dataset.asc = asc ? "1" : "0";
        });
      });
    });
  }
  var FILTERS = {
    all: function () { return true; },
    wrong: function (r) { return !r.errored && !r.ok; },
    truncated: function (r) { return r.trunc; },
    noanswer: function (r) { return !r.errored && r.none; },
    disagree: function (r) { return r.disagree; },
    errors: function (r) { return !!r.errored; },
  };
  function yes(v) { return v ? "yes" : ""; }
  function generation(g, i) {
    var box = el("div", null, "gen");
    var head = "#" + (i + 1) + " · " + g.stage + " · " + (g.tokens === null ? "?" : g.tokens) + " tokens · finish " + g.finish +
      " · answer " + (g.answer === null ? "none" : g.answer) + " · strict " + (g.strict === null ? "none" : g.strict);
    box.appendChild(el("div", head, "gen-head"));
    box.appendChild(el("pre", g.text, "raw"));
    var x = g.extra || {};
    if (x.program !== undefined) {
      box.appendChild(el("div", "program (sandbox status: " + x.program_status + ")"));
      box.appendChild(el("pre", x.program === null ? "(no program found)" : x.program, "raw"));
      if (x.program_stdout) { box.appendChild(el("div", "output")); box.appendChild(el("pre", x.program_stdout, "raw")); }
      if (x.program_error) box.appendChild(el("div", "error: " + x.program_error, "warn"));
    }
    if (x.verdict !== undefined) box.appendChild(el("div", "verdict: " + (x.verdict === null ? "unreadable" : x.verdict)));
    if (x.format_ok !== undefined) box.appendChild(el("div", "format kept: " + x.format_ok));
    if (x.error) box.appendChild(el("div", "error: " + x.error, "warn"));
    return box;
  }
  function questionView(r, into) {
    into.textContent = "";
    into.appendChild(el("h2", "question " + r.id));
    into.appendChild(el("pre", r.q, "raw question-text"));
    if (r.errored) { into.appendChild(el("p", "generation failed (not graded): " + r.err, "warn")); return; }
    into.appendChild(el("p", "gold " + r.gold + " · prediction " + (r.pred === null ? "none" : r.pred) + " (strict " +
      (r.strict === null ? "none" : r.strict) + ") · " + (r.ok ? "right" : "wrong")));
    if (r.votes) into.appendChild(el("p", "votes: " + JSON.stringify(r.votes)));
    var ex = r.extra || {};
    if (ex.initial_answer !== undefined) into.appendChild(el("p", "first answer " + ex.initial_answer + " → revised " + ex.final_answer));
    var rest = Object.keys(ex).filter(function (k) { return ["initial_answer", "final_answer"].indexOf(k) < 0; });
    if (rest.length) into.appendChild(el("pre", JSON.stringify(rest.reduce(function (o, k) { o[k] = ex[k]; return o; }, {}), null, 1), "raw"));
    r.gens.forEach(function (g, i) { into.appendChild(generation(g, i)); });
  }
  function runPage(name) {
    var run = window.RUN[name], tbody = document.getElementById("rows"), search = document.getElementById("search");
    var one = document.getElementById("question"), list = document.getElementById("questions");
    function render() {
      var p = hashParams(), f = FILTERS[p.filter] ? p.filter : "all", text = (p.search || "").toLowerCase();
      search.value = p.search || "";
      document.querySelectorAll("[data-filter]").forEach(function (a) { a.classList.toggle("on", a.dataset.filter === f); });
      if (p.q !== undefined) {
        var r = run.rows.filter(function (x) { return String(x.id) === p.q; })[0];
        list.hidden = true; one.hidden = false;
        one.textContent = "";
        var back = el("a", "← all questions"); back.href = "#filter=" + f; one.appendChild(back);
        var view = el("div"); one.appendChild(view);
        if (r) questionView(r, view); else view.appendChild(el("p", "no question " + p.q + " in this run"));
        return;
      }
      list.hidden = false; one.hidden = true;
      tbody.textContent = "";
      var shown = run.rows.filter(function (r) { return FILTERS[f](r) && (!text || r.q.toLowerCase().indexOf(text) >= 0); });
      shown.forEach(function (r) {
        var tr = el("tr"); tr.dataset.id = r.id;
        var a = el("a", r.id); a.href = "#q=" + r.id + "&filter=" + f;
        var td = el("td"); td.appendChild(a); td.dataset.sort = r.id; tr.appendChild(td);
        tr.appendChild(el("td", r.q, "q"));
        [r.gold, r.errored ? "error" : r.pred, r.errored ? "" : (r.ok ? "✓" : "✗"), yes(r.trunc), yes(!r.errored && r.none),
         r.votes ? JSON.stringify(r.votes) : ""].forEach(function (v) { tr.appendChild(el("td", v)); });
        var tk = el("td", r.tok); tk.dataset.sort = r.tok || 0; tr.appendChild(tk);
        tbody.appendChild(tr);
      });
      document.getElementById("count").textContent = shown.length + " of " + run.rows.length + " questions";
    }
    search.addEventListener("change", function () { var p = hashParams(); p.search = search.value; delete p.q; setHash(p); });
    window.addEventListener("hashchange", render);
    render();
  }
  function comparePage(nameA, nameB) {
    var a = window.RUN[nameA], b = window.RUN[nameB];
    var byId = function (run) { var m = {}; run.rows.forEach(function (r) { m[r.id] = r; }); return m; };
    var A = byId(a), B = byId(b);
    ["fixed", "regressed"].forEach(function (kind) {
      var box = document.getElementById(kind);
      JSON.parse(box.dataset.ids).forEach(function (id) {
        var pair = el("div", null, "pair"); pair.dataset.id = id;
        [[a, A[id]], [b, B[id]]].forEach(function (side) {
          var col = el("div"); col.appendChild(el("h3", side[0].name + " · question " + id));
          if (side[1]) questionView(side[1], col.appendChild(el("div")));
          pair.appendChild(col);
        });
        box.appendChild(pair);
      });
    });
  }
  function ready() { sortable(); document.body.dataset.ready = "1"; }
  return { runPage: runPage, comparePage: comparePage, ready: ready };
})();
