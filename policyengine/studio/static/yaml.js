// A small YAML highlighter for policy files: one line at a time, into DOM nodes (never markup strings).
// Tokens: comments, mapping keys, list dashes, quoted strings, numbers, booleans/null, flow punctuation.
"use strict";

(function () {
  const SCALAR = /^(true|false|null|~|yes|no|on|off)$/i;
  const NUMBER = /^-?(\d[\d_]*)(\.\d+)?([eE][-+]?\d+)?$/;

  function push(out, cls, text) {
    if (text) out.push([cls, text]);
  }

  // Where a comment starts (a `#` at the line start or after a space, outside quotes), or -1.
  function commentAt(line) {
    let quote = null;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quote) {
        if (c === "\\" && quote === '"') i++;
        else if (c === quote) quote = null;
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === "#" && (i === 0 || line[i - 1] === " " || line[i - 1] === "\t")) {
        return i;
      }
    }
    return -1;
  }

  function value(out, text) {
    // quoted strings, flow punctuation and plain words
    const re = /('(?:[^']|'')*'?|"(?:[^"\\]|\\.)*"?|[\[\]{},]|[^\[\]{},'"]+)/g;
    let m;
    while ((m = re.exec(text)) !== null) {
      const t = m[0];
      if (t[0] === "'" || t[0] === '"') push(out, "y-str", t);
      else if (/^[\[\]{},]$/.test(t)) push(out, "y-punct", t);
      else {
        const lead = t.match(/^\s*/)[0], trail = t.match(/\s*$/)[0];
        const core = t.slice(lead.length, t.length - trail.length);
        push(out, null, lead);
        const key = core.match(/^([^:]+):(\s|$)/);
        if (key && /[{,]\s*$/.test(text.slice(0, m.index))) {
          push(out, "y-key", key[1]);
          push(out, "y-punct", ":");
          push(out, null, core.slice(key[1].length + 1));
        } else if (SCALAR.test(core)) push(out, "y-bool", core);
        else if (NUMBER.test(core)) push(out, "y-num", core);
        else push(out, null, core);
        push(out, null, trail);
      }
    }
  }

  // The tokens of one line: [[class or null, text], ...], covering the line exactly.
  function tokens(line) {
    const out = [];
    const hash = commentAt(line);
    const code = hash >= 0 ? line.slice(0, hash) : line;
    const m = code.match(/^(\s*)((?:-\s+)*)((?:[^\s#'"{\[][^:#]*?|"[^"]*"|'[^']*'))(:)(\s.*|$)/);
    if (m) {
      push(out, null, m[1]);
      push(out, "y-dash", m[2]);
      push(out, "y-key", m[3]);
      push(out, "y-punct", m[4]);
      value(out, m[5]);
    } else {
      const d = code.match(/^(\s*)((?:-\s+|-$)*)(.*)$/);
      push(out, null, d[1]);
      push(out, "y-dash", d[2]);
      value(out, d[3]);
    }
    if (hash >= 0) push(out, "y-comment", line.slice(hash));
    return out;
  }

  // Fill `target` with the highlighted `text`, one <span class="y-line"> per line.
  function render(target, text) {
    const frag = document.createDocumentFragment();
    const lines = text.split("\n");
    for (const line of lines) {
      const row = document.createElement("span");
      row.className = "y-line";
      for (const [cls, t] of tokens(line)) {
        if (cls) {
          const span = document.createElement("span");
          span.className = cls;
          span.textContent = t;
          row.appendChild(span);
        } else {
          row.appendChild(document.createTextNode(t));
        }
      }
      row.appendChild(document.createTextNode("\n"));
      frag.appendChild(row);
    }
    target.replaceChildren(frag);
  }

  window.YamlHighlight = { tokens: tokens, render: render };
})();
