/* The report's only script: progressive enhancement of a page that reads fine without it (and the PDF,
   which never runs it). Contents column with subsections and "you are here"; sortable long tables; the
   token search over the index embedded in the page. Token strings only ever reach the page through
   textContent, never as markup. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function slug(text) {
    return text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48) || "part";
  }

  /* ---- contents: subsections, and the section being read ------------------------------------------ */
  function enhanceContents() {
    var nav = document.getElementById("contents");
    if (!nav) { return; }
    var links = [];
    nav.querySelectorAll("ol > li > a[href^='#']").forEach(function (link) {
      var section = document.getElementById(link.getAttribute("href").slice(1));
      if (!section) { return; }
      links.push({ link: link, target: section });
      var heads = section.querySelectorAll("h3");
      if (!heads.length) { return; }
      var sub = el("ol");
      heads.forEach(function (h, i) {
        if (!h.id) {
          var id = section.id + "--" + slug(h.textContent), n = 2;
          while (document.getElementById(id)) { id = section.id + "--" + slug(h.textContent) + "-" + (n++); }
          h.id = id;
        }
        var a = el("a", { href: "#" + h.id, text: h.textContent });
        sub.appendChild(el("li", {}, [a]));
        links.push({ link: a, target: h });
      });
      link.parentNode.appendChild(sub);
    });
    if (!("IntersectionObserver" in window) || !links.length) { return; }
    function update() {
      var current = null, currentSub = null, mark = window.innerHeight * 0.25;
      links.forEach(function (entry) {
        if (entry.target.getBoundingClientRect().top <= mark) {
          if (entry.target.tagName === "SECTION") { current = entry; currentSub = null; } else { currentSub = entry; }
        }
      });
      if (!current) { current = links[0]; }
      links.forEach(function (entry) {
        var on = entry === current || entry === currentSub;
        if (on) { entry.link.setAttribute("aria-current", "true"); } else { entry.link.removeAttribute("aria-current"); }
      });
      keepInView(nav, (currentSub || current).link);
    }
    var pending = false;
    window.addEventListener("scroll", function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; update(); });
    }, { passive: true });
    update();
  }

  function keepInView(scroller, item) {  // scroll the contents column (only it) so `item` shows
    if (scroller.scrollHeight <= scroller.clientHeight) { return; }
    var box = scroller.getBoundingClientRect(), at = item.getBoundingClientRect();
    if (at.top < box.top + 40) {
      scroller.scrollTop -= box.top + 40 - at.top;
    } else if (at.bottom > box.bottom - 40) {
      scroller.scrollTop += at.bottom - box.bottom + 40;
    }
  }

  /* ---- sortable tables --------------------------------------------------------------------------- */
  var MIN_SORT_ROWS = 6;

  function sortKey(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    var text = raw.trim().replace(/[\u2009\u202f ,]/g, "").replace(/\u2212/g, "-");
    if (text === "" || text === "\u2014" || text === "-" || text === "n/a") { return { kind: "none" }; }
    var m = /^[<>≤≥~×]?\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(%|×)?$/i.exec(text);
    if (m) { return { kind: "num", value: parseFloat(m[1]) }; }
    return { kind: "text", value: raw.trim().toLowerCase() };
  }

  function makeSortable(table) {
    var head = table.tHead, body = table.tBodies[0];
    if (!head || !body || table.hasAttribute("data-nosort") || body.rows.length < MIN_SORT_ROWS) { return; }
    var headers = head.rows[0] ? Array.prototype.slice.call(head.rows[0].cells) : [];
    var width = body.rows[0].cells.length;
    var spans = Array.prototype.some.call(body.querySelectorAll("td, th"), function (c) { return c.rowSpan > 1 || c.colSpan > 1; });
    if (headers.length !== width || spans) { return; }
    table.classList.add("sortable");
    Array.prototype.forEach.call(body.rows, function (row, i) { row.dataset.order = String(i); });
    headers.forEach(function (th, column) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      th.title = "Sort by this column";
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        var keys = rows.map(function (row) { return sortKey(row.cells[column]); });
        var numeric = keys.every(function (k) { return k.kind !== "text"; });
        var order = rows.map(function (row, i) { return i; });
        order.sort(function (a, b) {
          var ka = keys[a], kb = keys[b];
          if (ka.kind === "none" || kb.kind === "none") {  // blanks last, whichever the direction
            if (ka.kind !== kb.kind) { return ka.kind === "none" ? 1 : -1; }
            return Number(rows[a].dataset.order) - Number(rows[b].dataset.order);
          }
          var cmp = numeric ? ka.value - kb.value
            : String(ka.value).localeCompare(String(kb.value), undefined, { numeric: true });
          if (!numeric && ka.kind !== kb.kind) { cmp = ka.kind === "num" ? -1 : 1; }
          if (cmp === 0) { return Number(rows[a].dataset.order) - Number(rows[b].dataset.order); }
          return ascending ? cmp : -cmp;
        });
        var fragment = document.createDocumentFragment();
        order.forEach(function (i) { fragment.appendChild(rows[i]); });
        body.appendChild(fragment);
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  }

  /* ---- token search -------------------------------------------------------------------------------- */
  /* The index (report/write/search_index.py, version 2) is megabytes of JSON for a large vocabulary, so the page
     never waits for it: it is decoded when the browser is idle after load, or on first use of the search,
     whichever comes first. Numbers are 32- (or 16-) bit floats scaled per column, ids 16- or 32-bit
     integers, both base64 of little-endian bytes; token texts a plain array. */
  var MAX_HITS = 40;

  function bytesOf(base64) {
    var binary = atob(base64), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return new DataView(bytes.buffer);
  }

  function halfToNumber(bits) {
    var exponent = (bits >> 10) & 0x1f, fraction = bits & 0x3ff, sign = bits & 0x8000 ? -1 : 1;
    if (exponent === 0x1f) { return NaN; }  // the index stores every missing or infinite value as NaN
    if (exponent === 0) { return sign * fraction * Math.pow(2, -24); }
    return sign * (1024 + fraction) * Math.pow(2, exponent - 25);
  }

  function column(spec) {  // an F or U column of the index, read in place: length and get(i)
    var view = bytesOf(spec.data), scale = Math.pow(2, spec.exp || 0);
    if (spec.type === "f32") {
      return { length: view.byteLength / 4, get: function (i) { return view.getFloat32(4 * i, true) * scale; } };
    }
    if (spec.type === "f16") {
      return { length: view.byteLength / 2, get: function (i) { return halfToNumber(view.getUint16(2 * i, true)) * scale; } };
    }
    if (spec.type === "u32") {
      return { length: view.byteLength / 4, get: function (i) { return view.getUint32(4 * i, true); } };
    }
    return { length: view.byteLength / 2, get: function (i) { return view.getUint16(2 * i, true); } };
  }

  function position(ids, id) {  // where `id` is in an ascending U column, or -1
    var lo = 0, hi = ids.length - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1, at = ids.get(mid);
      if (at === id) { return mid; }
      if (at < id) { lo = mid + 1; } else { hi = mid - 1; }
    }
    return -1;
  }

  function decodeIndex(raw) {
    if (!raw || raw.version !== 2 || !Array.isArray(raw.text)) { return null; }
    var data = { rows: raw.rows, tokens: raw.tokens, digits: raw.digits || 3, text: raw.text,
                 lower: raw.text.map(function (t) { return t.toLowerCase(); }),
                 norm: raw.norm ? column(raw.norm) : null,
                 svd: raw.svd ? raw.svd.map(column) : null,
                 unigram: raw.unigram ? { dim: raw.unigram.dim, values: column(raw.unigram.values) } : null,
                 predicts: null, neighbours: null };
    if (raw.zero_layer) {
      var from = column(raw.zero_layer.ids), to = column(raw.zero_layer.predicts);
      data.predicts = function (id) { var at = position(from, id); return at < 0 ? id : to.get(at); };
    }
    if (raw.neighbours) {
      var n = raw.neighbours, ids = column(n.ids), start = column(n.start), near = column(n.near), cos = column(n.cosine);
      data.neighbours = {
        kept: ids.length, listed: n.listed,
        of: function (id) {
          var at = position(ids, id), pairs = [];
          if (at < 0) { return null; }
          for (var j = start.get(at); j < start.get(at + 1); j++) { pairs.push([near.get(j), cos.get(j)]); }
          return pairs;
        }
      };
    }
    return data;
  }

  function number(value, digits) {
    return typeof value !== "number" || !isFinite(value) ? "\u2014" : String(Number(value.toPrecision(digits)));
  }

  function chip(data, id) {
    return el("code", { "class": "tok", dir: "ltr", "data-id": String(id), title: "id " + id, text: data.text[id] });
  }

  function find(data, query) {
    var trimmed = query.trim();
    if (!trimmed) { return []; }
    var hits = [], seen = {}, lower = data.lower;
    function add(id) { if (!seen[id] && hits.length < MAX_HITS) { seen[id] = true; hits.push(id); } }
    var idMatch = /^#?(\d+)$/.exec(trimmed);
    if (idMatch && Number(idMatch[1]) < data.rows) { add(Number(idMatch[1])); }
    if (trimmed.charAt(0) === "#" && idMatch) { return hits; }
    // Ranked: the token itself, then it after a word-start ␣, then tokens starting with it (with or
    // without ␣), then tokens containing it; ties by id (BPE merge order: common tokens first).
    var q = query.replace(/ /g, "\u2423").toLowerCase(), spaced = "\u2423" + q;
    var tiers = [
      function (t) { return t === q; },
      function (t) { return t === spaced; },
      function (t) { return t.indexOf(q) === 0 || t.indexOf(spaced) === 0; },
      function (t) { return t.indexOf(q) > 0; }
    ];
    tiers.forEach(function (test) {
      for (var i = 0; i < lower.length && hits.length < MAX_HITS; i++) { if (test(lower[i])) { add(i); } }
    });
    return hits;
  }

  function row(label, value, field) {
    return [el("dt", { text: label }), el("dd", { "data-field": field }, [value])];
  }

  function card(data, id) {  // the token's numbers, prediction and neighbours, as a definition list
    var dl = el("dl"), digits = data.digits;
    function put(pair) { dl.appendChild(pair[0]); dl.appendChild(pair[1]); }
    function text(value) { return document.createTextNode(number(value, digits)); }
    if (data.norm) { put(row("norm", text(data.norm.get(id)), "norm")); }
    if (data.unigram) { put(row("dim " + data.unigram.dim + " (unigram)", text(data.unigram.values.get(id)), "unigram")); }
    if (data.svd) {
      data.svd.forEach(function (values, c) { put(row("SVD " + c, text(values.get(id)), "svd" + c)); });
    }
    if (data.predicts) {
      var target = data.predicts(id);
      var shown = target === id ? el("span", { text: "itself" })
        : el("span", {}, [document.createTextNode("\u2192 "), chip(data, target), el("span", { "class": "muted", text: " #" + target })]);
      put(row("zero-layer next", shown, "predicts"));
    }
    if (data.neighbours) {
      var near = data.neighbours.of(id), value;
      if (near && near.length) {
        value = el("ol", {}, near.map(function (pair) {
          return el("li", {}, [chip(data, pair[0]), el("span", { "class": "muted", text: "cos " + number(pair[1], digits) })]);
        }));
      } else {
        value = el("span", { "class": "muted", text: "not listed for this token" });
      }
      put(row("neighbours", value, "neighbours"));
    }
    return dl;
  }

  function cutNotes(data) {  // what the index leaves out, in words
    var notes = [];
    if (data.rows < data.tokens) {
      notes.push("The search covers tokens 0\u2013" + (data.rows - 1).toLocaleString("en") + " of " +
        data.tokens.toLocaleString("en") + ".");
    }
    if (data.neighbours && data.neighbours.kept < data.neighbours.listed) {
      notes.push("Neighbours are kept for the " + data.neighbours.kept.toLocaleString("en") + " lowest ids of the " +
        data.neighbours.listed.toLocaleString("en") + " tokens the report lists them for.");
    }
    return notes;
  }

  function setupSearch() {
    var node = document.getElementById("token-index");
    var box = document.getElementById("tok-search");
    var input = document.getElementById("tok-query");
    var list = document.getElementById("tok-results");
    var panel = document.getElementById("tok-card");
    var hint = document.getElementById("tok-hint");
    if (!node || !box || !input || !list || !panel) { return; }
    var data = null, failed = false;

    function ready() {  // the decoded index (null if it cannot be read); the first call decodes it
      if (data || failed) { return data; }
      var started = performance.now();
      try { data = decodeIndex(JSON.parse(node.textContent)); } catch (error) { data = null; }
      failed = !data;
      if (failed) {
        if (hint) { hint.textContent = "The token index of this page could not be read."; }
        input.disabled = true;
        return null;
      }
      var notes = cutNotes(data);
      if (hint && notes.length) { hint.textContent += " " + notes.join(" "); }
      // Timings for the report's browser tests and docs/report.md (milliseconds since navigation start).
      box.setAttribute("data-decode-ms", (performance.now() - started).toFixed(1));
      box.setAttribute("data-ready-ms", performance.now().toFixed(1));
      return data;
    }

    function show(id) {
      panel.textContent = "";
      panel.appendChild(el("div", { "class": "head" }, [chip(data, id), el("span", { "class": "muted", text: "id " + id })]));
      panel.appendChild(card(data, id));
    }

    function render() {
      if (!ready()) { return; }
      var started = performance.now();
      var hits = find(data, input.value);
      list.textContent = "";
      hits.forEach(function (id, k) {
        var button = el("button", { type: "button", "data-id": String(id), "aria-selected": k === 0 ? "true" : "false" },
          [chip(data, id), el("span", { "class": "id", text: "#" + id })]);
        button.addEventListener("click", function () { show(id); });
        list.appendChild(el("li", {}, [button]));
      });
      if (hits.length) { show(hits[0]); } else { panel.textContent = ""; }
      if (!hits.length && input.value.trim()) {
        list.appendChild(el("li", { "class": "muted", text: "No token matches." }));
      }
      box.setAttribute("data-query-ms", (performance.now() - started).toFixed(1));
    }

    input.addEventListener("focus", ready);
    input.addEventListener("input", render);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { input.value = ""; render(); }
    });
    document.addEventListener("click", function (event) {
      var target = event.target.closest ? event.target.closest(".tok[data-id]") : null;
      if (!target || list.contains(target) || !ready()) { return; }
      var id = Number(target.getAttribute("data-id"));
      if (!(id >= 0 && id < data.rows)) { return; }
      input.value = "#" + id;
      render();
      input.scrollIntoView({ block: "nearest" });
    });
    box.hidden = false;
    if ("requestIdleCallback" in window) { window.requestIdleCallback(ready, { timeout: 3000 }); }
  }

  function start() {
    enhanceContents();
    document.querySelectorAll("main table").forEach(makeSortable);
    setupSearch();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
