// The policyengine studio page. Every text that comes from the policy files or the server is put in the page with
// textContent (the el() helper), never as markup: a label holding <script> is shown, not run.
"use strict";

(function () {
  const PAUSE_MS = 100; // a pause in typing this long checks the edited set
  const COMPANIONS_AFTER_MS = 300; // the suites' and invariants' problems are asked this long after a check
  const $ = (id) => document.getElementById(id);

  // -- state ------------------------------------------------------------------------------------------------------
  const state = {
    token: null,
    files: [],          // [{path, group}]
    saved: {},          // path -> text as on disk
    buffers: {},        // path -> text as edited
    open: null,         // the path in the editor
    form: null,         // the Try it form description from the server
    values: {},         // fact name -> value (the Try it form)
    store: "",
    diagnostics: [],
    seq: 0,             // the latest live check sent; older answers are dropped
    timings: [],        // [{pause, updated}] performance.now() of each live check, for the bench
    lastKey: 0,
  };
  window.studioState = state;

  // -- helpers ------------------------------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function say(text) { $("status").textContent = text; }

  function edits() {
    const out = {};
    for (const [path, text] of Object.entries(state.buffers)) {
      if (text !== state.saved[path]) out[path] = text;
    }
    return out;
  }

  async function api(name, body) {
    const headers = { "Content-Type": "application/json" };
    if (state.token) headers["X-Studio-Token"] = state.token;
    const response = await fetch("/api/" + name, { method: "POST", headers: headers, body: JSON.stringify(body || {}) });
    const data = await response.json();
    if (!response.ok) {
      const err = new Error(data.message || response.statusText);
      err.status = response.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  function show(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  // -- files and the editor -------------------------------------------------------------------------------------
  function renderFiles() {
    const list = $("file-list");
    const nodes = [];
    let group = null;
    for (const f of state.files) {
      if (f.group !== group) {
        group = f.group;
        nodes.push(el("h3", {}, group));
      }
      const dirty = state.buffers[f.path] !== undefined && state.buffers[f.path] !== state.saved[f.path];
      nodes.push(el("button", { type: "button", "data-path": f.path, class: dirty ? "dirty" : null,
        "aria-current": f.path === state.open ? "true" : null, onclick: () => openFile(f.path) },
        f.path + (dirty ? " (edited)" : "")));
    }
    list.replaceChildren(...nodes);
  }

  async function openFile(path) {
    if (state.buffers[path] === undefined) {
      let data;
      try {
        data = await api("file", { path: path });
      } catch (err) {
        say("Cannot open " + path + ": " + err.message);
        return;
      }
      state.saved[path] = data.text;
      state.buffers[path] = data.text;
    }
    state.open = path;
    $("editor-title").textContent = path;
    $("source").value = state.buffers[path];
    renderEditor();
    renderFiles();
  }

  function renderEditor() {
    const text = $("source").value;
    window.YamlHighlight.render($("highlight"), text);
    const lines = text.split("\n").length;
    const bad = new Set(state.diagnostics.filter((d) => d.file === state.open).map((d) => d.line));
    const numbers = [];
    for (let i = 1; i <= lines; i++) {
      numbers.push(el("div", { class: bad.has(i) ? "err" : null, "data-line": i }, String(i)));
    }
    $("gutter").replaceChildren(...numbers);
    syncScroll();
  }

  function syncScroll() {
    const src = $("source");
    $("highlight").scrollTop = src.scrollTop;
    $("highlight").scrollLeft = src.scrollLeft;
    $("gutter").scrollTop = src.scrollTop;
  }

  function jumpTo(file, line, column) {
    const go = () => {
      const src = $("source");
      const lines = src.value.split("\n");
      let at = 0;
      for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
      at += Math.max(0, (column || 1) - 1);
      src.focus();
      src.setSelectionRange(at, at);
    };
    if (file !== state.open && state.files.some((f) => f.path === file)) openFile(file).then(go);
    else go();
  }

  let timer = null;
  function onType() {
    state.buffers[state.open] = $("source").value;
    state.lastKey = performance.now();
    renderEditor();
    renderFiles();
    clearTimeout(timer);
    timer = setTimeout(liveCheck, PAUSE_MS);
  }

  // -- live checking --------------------------------------------------------------------------------------------
  async function liveCheck() {
    const seq = ++state.seq;
    const pause = performance.now();
    const key = state.lastKey;
    let data;
    try {
      data = await api("check", { edits: edits(), try: { facts: state.values, store: state.store } });
    } catch (err) {
      say("Cannot check: " + err.message);
      return;
    }
    if (seq !== state.seq) return; // a newer edit is being checked
    state.diagnostics = data.diagnostics;
    renderProblems();
    renderEditor();
    if (data.form) {
      if (formChanged(data.form)) {
        state.form = data.form;
        renderForm();
      }
    }
    if (data.menu) renderMenu(data.menu);
    say(data.ok ? "The edited set loads."
      : "The edited set does not load: " + data.diagnostics.length + " problem(s).");
    const updated = performance.now();
    state.timings.push({ key: key, pause: pause, updated: updated });
    document.body.dataset.checked = String(seq);
    // a moment later, unless typing went on: checking them must not slow the next pause's check down
    if (data.ok) setTimeout(() => { if (seq === state.seq) companions(seq, data.diagnostics); }, COMPANIONS_AFTER_MS);
  }

  // The test suites' and invariants' problems: asked after the menu is shown (validating them costs more).
  async function companions(seq, first) {
    let data;
    try {
      data = await api("companions", { edits: edits() });
    } catch (err) {
      return;
    }
    if (seq !== state.seq) return;
    state.diagnostics = first.concat(data.diagnostics);
    renderProblems();
    renderEditor();
    if (data.diagnostics.length) say("The set loads; its test suites or invariants have " + data.diagnostics.length + " problem(s).");
    document.body.dataset.companions = String(seq);
  }

  function counterexampleStore(d) {
    const text = state.buffers[d.file] !== undefined ? state.buffers[d.file] : "";
    const m = text.match(/^store:\s*['"]?([^'"\s#]+)/m);
    return m ? m[1] : "";
  }

  function renderProblems() {
    const items = state.diagnostics.map((d) => {
      const where = d.file + ":" + d.line + ":" + d.column;
      const li = el("li", { class: "problem" },
        el("button", { type: "button", class: "where", onclick: () => jumpTo(d.file, d.line, d.column) }, where),
        " ", el("span", { class: "message" }, d.message),
        d.hint ? el("span", { class: "hint" }, "hint: " + d.hint) : null);
      if (d.counterexample) {
        const facts = Object.entries(d.counterexample).map(([k, v]) => k + " = " + show(v)).join(", ");
        li.appendChild(el("span", { class: "detail counterexample" }, "Counterexample: " + facts));
        li.appendChild(el("button", { type: "button", class: "try-counterexample",
          onclick: () => tryOrder(d.counterexample, counterexampleStore(d)) }, "Try this order"));
      }
      return li;
    });
    $("problems").replaceChildren(...items);
    $("problem-count").textContent = state.diagnostics.length ? "(" + state.diagnostics.length + ")" : "(none)";
  }

  // -- Try it ---------------------------------------------------------------------------------------------------------
  function formChanged(form) {
    return JSON.stringify(form) !== JSON.stringify(state.form);
  }

  function initialValue(f) {
    if (f.default !== null && f.default !== undefined) return f.default;
    if (f.type === "enum") return f.values[0];
    if (f.type === "bool") return false;
    return null;
  }

  function renderForm() {
    const form = state.form;
    const nodes = [];
    const storeSelect = el("select", { id: "fact-store", onchange: (e) => { state.store = e.target.value; tryNow(); } },
      el("option", { value: "" }, "(no store override)"),
      ...form.stores.map((s) => el("option", { value: s }, s)));
    if (!form.stores.includes(state.store)) state.store = "";
    storeSelect.value = state.store;
    nodes.push(el("label", { for: "fact-store" }, "store"), storeSelect);
    for (const f of form.facts) {
      if (!(f.name in state.values)) state.values[f.name] = initialValue(f);
      const id = "fact-" + f.name.replace(/[^A-Za-z0-9_-]/g, "-");
      const current = state.values[f.name];
      let input;
      if (f.type === "enum") {
        input = el("select", { id: id, "data-fact": f.name },
          el("option", { value: "" }, "(missing)"), ...f.values.map((v) => el("option", { value: v }, v)));
        input.value = current === null ? "" : current;
        input.addEventListener("change", () => { state.values[f.name] = input.value === "" ? null : input.value; tryNow(); });
      } else if (f.type === "bool") {
        input = el("input", { id: id, type: "checkbox", role: "switch", "data-fact": f.name });
        input.checked = current === true;
        input.addEventListener("change", () => { state.values[f.name] = input.checked; tryNow(); });
      } else {
        const number = f.type === "number";
        input = el("input", { id: id, type: number ? "number" : "text", step: number ? "any" : null, "data-fact": f.name,
          placeholder: f.type === "set" ? "comma, separated" : "(missing)" });
        input.value = current === null ? "" : (Array.isArray(current) ? current.join(", ") : String(current));
        input.addEventListener("input", () => {
          const raw = input.value;
          state.values[f.name] = raw === "" ? null : number ? Number(raw)
            : f.type === "set" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : raw;
          tryLater();
        });
      }
      const label = f.name + (f.default !== null && f.default !== undefined ? " (default " + show(f.default) + ")" : "");
      nodes.push(el("label", { for: id, title: f.description || "" }, label), input);
      if (f.description) nodes.push(el("span", { class: "desc" }, f.description));
    }
    $("try-form").replaceChildren(...nodes);
    fillSelects();
  }

  let tryTimer = null;
  function tryLater() { clearTimeout(tryTimer); tryTimer = setTimeout(tryNow, PAUSE_MS); }

  async function tryNow() {
    const seq = ++state.seq;
    try {
      const menu = await api("try", { edits: edits(), facts: state.values, store: state.store });
      if (seq === state.seq) renderMenu(menu);
    } catch (err) {
      say("Cannot evaluate: " + err.message);
    }
  }

  function tryOrder(facts, store) {
    for (const [k, v] of Object.entries(facts)) {
      if (k === (state.form && state.form.store_fact)) { store = v; continue; }
      state.values[k] = v;
    }
    if (store !== undefined) state.store = store;
    selectTab("tab-try");
    if (state.form) renderForm();
    tryNow().then(() => $("menu").focus());
  }

  function decidedBy(a) {
    return (a.source || []).map((s) => s.kind + (s.id ? " " + s.id : "") + " at " + s.where).join("; ");
  }

  function renderMenu(menu) {
    $("try-note").hidden = menu.current;
    $("try-note").textContent = menu.current ? "" :
      "The edited set does not load: this menu comes from the last set that loaded.";
    $("menu-policy").textContent = "decided by " + menu.policy + (menu.store_override ? " + store override " + menu.store_override : "");
    const shown = [], hidden = [];
    for (const a of menu.actions) {
      const li = el("li", { "data-action": a.action, "data-state": a.state },
        el("span", { class: "state state-" + a.state }, a.state),
        el("span", { class: "action-label" }, a.label));
      if (a.state === "disabled") {
        for (const r of a.reasons) li.appendChild(el("span", { class: "detail reason" }, r));
      } else if (a.state === "enabled") {
        if (a.confirm) li.appendChild(el("span", { class: "detail confirm" }, "Asks to confirm: " + a.confirm));
        for (const e of a.effects) {
          const sets = Object.entries(e.set || {}).map(([k, v]) => k + " := " + show(v));
          if (e.operation) sets.push(e.operation + "()");
          li.appendChild(el("span", { class: "detail effect" }, "Does: " + sets.join(", ")));
        }
      } else {
        for (const r of a.reasons) li.appendChild(el("span", { class: "detail reason" }, r));
      }
      for (const e of a.errors || []) li.appendChild(el("span", { class: "detail error" }, "Bad fact " + e.fact + ": " + e.message));
      li.appendChild(el("span", { class: "detail decided" }, "Decided by " + decidedBy(a)));
      li.appendChild(el("button", { type: "button", class: "explain", onclick: () => explain(a.action) },
        "Explain " + a.label));
      (a.state === "hidden" ? hidden : shown).push(li);
    }
    $("menu").replaceChildren(...shown);
    $("menu").setAttribute("tabindex", "-1");
    $("hidden-actions").replaceChildren(...hidden);
  }

  function traceLines(t, depth, out) {
    const pad = "  ".repeat(depth);
    const value = t.value === null ? "unknown" : String(t.value);
    out.push(pad + (t.decisive ? "* " : "  ") + t.kind + (t.id ? " " + t.id : "") + ": " + t.condition + " = " + value
      + "   (" + t.where + ")");
    for (const f of t.facts || []) out.push(pad + "      " + f.fact + " = " + (f.problem ? "? " + f.problem : show(f.value)));
    for (const c of t.conditions || []) traceLines(c, depth + 1, out);
  }

  async function explain(action) {
    const data = await api("explain", { edits: edits(), facts: state.values, store: state.store, action: action });
    const a = data.actions[0];
    const lines = [a.label + " is " + a.state + " (" + data.policy + (data.store_override ? " + " + data.store_override : "") + ")"];
    for (const t of [a.visible, a.allow, ...a.guards, ...a.effects]) if (t) traceLines(t, 0, lines);
    $("explain").replaceChildren(el("h3", {}, "Why " + a.label + " is " + a.state),
      el("pre", { class: "trace", tabindex: "0", id: "explain-trace" }, lines.join("\n")));
    $("explain-trace").focus();
  }

  // -- Tests --------------------------------------------------------------------------------------------------------
  async function runTests() {
    $("tests-summary").textContent = "Running…";
    const data = await api("tests", { edits: edits() });
    if (!data.loads) {
      $("tests-summary").textContent = "The suites cannot run: " + data.diagnostics.map((d) => d.file + ":" + d.line + ": " + d.message).join("; ");
      $("test-failures").replaceChildren();
      $("accept-tests").disabled = true;
      return;
    }
    $("tests-summary").textContent = data.passed + " passed, " + data.failed + " failed";
    $("accept-tests").disabled = data.failed === 0;
    $("test-failures").replaceChildren(...data.failures.map((f) => el("li", { class: "failure" },
      el("h3", {}, f.case), el("span", { class: "detail" }, f.where + " — " + f.policy),
      ...f.errors.map((e) => el("span", { class: "detail error" }, e)),
      el("table", {}, el("tr", {}, el("th", {}, "action"), el("th", {}, "check"), el("th", {}, "expected"), el("th", {}, "actual")),
        ...f.mismatches.map((m) => el("tr", {}, el("td", {}, m.action), el("td", {}, m.check),
          el("td", { class: "expected" }, show(m.expected)), el("td", { class: "actual" }, show(m.actual))))))));
  }

  async function acceptTests() {
    const data = await api("accept", { edits: edits() });
    for (const [path, text] of Object.entries(data.files)) {
      if (state.saved[path] === undefined) {
        const file = await api("file", { path: path });
        state.saved[path] = file.text;
      }
      state.buffers[path] = text;
    }
    if (state.open && data.files[state.open] !== undefined) $("source").value = state.buffers[state.open];
    renderEditor();
    renderFiles();
    say("Accepted " + data.changes + " change(s) into " + Object.keys(data.files).join(", ") + " (not saved yet).");
    await runTests();
  }

  // -- Review ---------------------------------------------------------------------------------------------------------
  function fillSelects() {
    const form = state.form;
    const action = $("matrix-action"), store = $("matrix-store");
    const keepA = action.value, keepS = store.value;
    action.replaceChildren(...form.actions.map((a) => el("option", { value: a.id }, a.label + " (" + a.id + ")")));
    store.replaceChildren(el("option", { value: "" }, "(base policy)"), ...form.stores.map((s) => el("option", { value: s }, s)));
    if (keepA) action.value = keepA;
    if (keepS) store.value = keepS;
  }

  function outcomeText(g) {
    let text = g.state;
    if (g.reasons && g.reasons.length) text += ": " + g.reasons.join(" ");
    if (g.effects && g.effects.length) text += ": does " + g.effects.map((e) => [
      ...Object.entries(e.set || {}).map(([k, v]) => k + " := " + show(v)), e.operation ? e.operation + "()" : null,
    ].filter(Boolean).join(", ")).join("; ");
    return text;
  }

  async function runMatrix() {
    const data = await api("matrix", { edits: edits(), action: $("matrix-action").value, store: $("matrix-store").value });
    if (data.error) { $("matrix").replaceChildren(el("p", {}, data.error)); return; }
    $("matrix").replaceChildren(el("p", { class: "muted" }, data.policy + (data.store_override ? " + store override " + data.store_override : "")
      + ", " + data.combinations + " possible combinations"),
      el("table", { id: "matrix-table" }, el("tr", {}, el("th", {}, "decision"), el("th", {}, "when"), el("th", {}, "combinations")),
        ...data.groups.map((g) => el("tr", {}, el("td", {}, outcomeText(g)), el("td", {}, g.description), el("td", {}, String(g.count))))));
  }

  async function runDiff() {
    let data;
    try {
      data = await api("diff", { edits: edits(), against: $("diff-against").value || "saved", store: $("matrix-store").value });
    } catch (err) {
      $("diff").replaceChildren(el("p", {}, err.message));
      return;
    }
    if (data.error) { $("diff").replaceChildren(el("p", {}, data.error)); return; }
    const rows = [];
    for (const a of data.actions) {
      for (const c of a.changes) {
        rows.push(el("tr", {}, el("td", {}, a.action.label), el("td", {}, outcomeText(c.old) + " → " + outcomeText(c.new)),
          el("td", {}, c.description), el("td", {}, String(c.count))));
      }
      for (const d of a.details) rows.push(el("tr", {}, el("td", {}, a.action.label), el("td", {}, d.field + ": " + show(d.old) + " → " + show(d.new)), el("td", {}, ""), el("td", {}, "")));
    }
    $("diff").replaceChildren(el("p", { id: "diff-summary" }, data.summary),
      rows.length ? el("table", {}, el("tr", {}, el("th", {}, "action"), el("th", {}, "change"), el("th", {}, "when"), el("th", {}, "combinations")), ...rows) : el("p", {}, "No decision changes."));
  }

  // -- Impact -----------------------------------------------------------------------------------------------------------
  async function runImpact() {
    let data;
    try {
      data = await api("impact", { edits: edits() });
    } catch (err) {
      $("impact").replaceChildren(el("p", {}, err.message));
      return;
    }
    if (data.error) { $("impact").replaceChildren(el("p", {}, data.error)); return; }
    const parts = [el("p", {}, data.total + " orders compared")];
    for (const a of data.actions) {
      parts.push(el("h3", {}, a.label + (a.profile ? " (as " + a.profile + ")" : "")));
      const rows = a.transitions.map((t) => el("tr", {}, el("td", {}, t.from + " → " + t.to), el("td", {}, String(t.count)),
        el("td", {}, Object.entries(t.stores || {}).map(([s, n]) => s + ": " + n).join(", ")),
        el("td", {}, ...t.examples.map((id) => el("button", { type: "button", class: "example", onclick: () => openExample(id) }, String(id))))));
      parts.push(rows.length ? el("table", {}, el("tr", {}, el("th", {}, "change"), el("th", {}, "orders"), el("th", {}, "stores"), el("th", {}, "examples")), ...rows)
        : el("p", {}, "No order changes."));
      if (a.undecided && a.undecided.count) parts.push(el("p", {}, a.undecided.count + " undecided: " + a.undecided.examples.join(", ")));
    }
    $("impact").replaceChildren(...parts);
  }

  async function openExample(id) {
    const data = await api("example", { id: String(id) });
    tryOrder(data.facts, data.store || "");
  }

  // -- Save ---------------------------------------------------------------------------------------------------------
  async function save(confirmBroken) {
    const path = state.open;
    if (!path) return;
    const all = edits();
    if (all[path] === undefined) all[path] = state.buffers[path];
    try {
      await api("save", { edits: all, path: path, confirm_broken: confirmBroken === true });
    } catch (err) {
      if (err.status === 409 && err.data.error === "does_not_load") {
        $("confirm-text").textContent = err.message;
        $("confirm-save").showModal();
        $("confirm-no").focus();
        return;
      }
      say("Not saved: " + err.message);
      return;
    }
    state.saved[path] = state.buffers[path];
    renderFiles();
    say("Saved " + path + ".");
  }

  // -- tabs ---------------------------------------------------------------------------------------------------------
  function selectTab(id) {
    for (const tab of document.querySelectorAll("[role=tab]")) {
      const on = tab.id === id;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !on;
    }
  }

  function tabKeys(e) {
    const tabs = Array.from(document.querySelectorAll("[role=tab]"));
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const next = e.key === "ArrowRight" ? (i + 1) % tabs.length : e.key === "ArrowLeft" ? (i - 1 + tabs.length) % tabs.length : -1;
    if (next >= 0) { selectTab(tabs[next].id); tabs[next].focus(); e.preventDefault(); }
  }

  // -- start --------------------------------------------------------------------------------------------------------
  async function start() {
    const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
    if (fromHash) {
      sessionStorage.setItem("studio-token", fromHash);
      history.replaceState(null, "", location.pathname);
    }
    state.token = sessionStorage.getItem("studio-token");
    $("source").addEventListener("input", onType);
    $("source").addEventListener("scroll", syncScroll);
    $("source").addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); $("save").focus(); } // Tab indents nothing: it leaves the editor
    });
    document.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(false); }
    });
    $("save").addEventListener("click", () => save(false));
    $("confirm-yes").addEventListener("click", () => { $("confirm-save").close(); save(true); });
    $("confirm-no").addEventListener("click", () => { $("confirm-save").close(); say("Not saved."); });
    $("run-tests").addEventListener("click", runTests);
    $("accept-tests").addEventListener("click", acceptTests);
    $("run-matrix").addEventListener("click", runMatrix);
    $("run-diff").addEventListener("click", runDiff);
    $("run-impact").addEventListener("click", runImpact);
    for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => selectTab(tab.id));
    $("tabs").addEventListener("keydown", tabKeys);
    let data;
    try {
      data = await api("files", {});
    } catch (err) {
      say("Cannot start: " + err.message);
      return;
    }
    state.files = data.files;
    $("root-name").textContent = data.root;
    $("impact-source").textContent = data.impact ? "Orders from " + data.impact : "Start the studio with --db URL to see a change's impact on real orders.";
    $("run-impact").disabled = !data.impact;
    renderFiles();
    if (state.files.length) await openFile(state.files[0].path);
    await liveCheck();
    document.body.dataset.ready = "true";
  }

  document.addEventListener("DOMContentLoaded", start);
})();
