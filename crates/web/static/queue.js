// The incident queue from the keyboard: j/k (or the arrow keys) move through the
// rows, x selects, o or Enter opens, a assigns the selection (or the current row)
// to the reader, s goes to the state selector, / to the search box, n/p turn the
// page, ? shows the keys. The bulk bar counts what is selected.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-id]"));
  var count = document.getElementById("bulk-count");
  var idle = count ? count.textContent : "";
  var at = -1;

  function boxes() {
    return rows.map(function (r) { return r.querySelector("input[name=ids]"); });
  }
  function update() {
    var n = boxes().filter(function (b) { return b && b.checked; }).length;
    rows.forEach(function (r) {
      var b = r.querySelector("input[name=ids]");
      r.classList.toggle("selected", !!(b && b.checked));
    });
    if (count) {
      count.textContent = n ? count.getAttribute("data-template").replace("{n}", n) : idle;
    }
    document.body.classList.toggle("has-selection", n > 0);
  }
  function focusRow(i) {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, j) { r.classList.toggle("focused", j === at); });
    rows[at].setAttribute("tabindex", "-1");
    rows[at].focus({ preventScroll: true });
    rows[at].scrollIntoView({ block: "nearest" });
  }
  function go(id) {
    var a = document.getElementById(id);
    if (a) window.location.href = a.href;
  }

  table.addEventListener("change", update);
  // After s, the state is chosen with the arrow keys and Enter sets it.
  var stateSelect = document.getElementById("b-state");
  if (stateSelect) {
    stateSelect.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); document.getElementById("bulk-state").click(); }
    });
  }
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { if (b) b.checked = all.checked; });
      update();
    });
  }
  rows.forEach(function (r, i) {
    r.addEventListener("click", function (e) {
      if (e.target.closest("a, input, button, select")) return;
      focusRow(i);
    });
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable)) {
      if (e.key === "Escape") t.blur();
      return;
    }
    var row = at >= 0 ? rows[at] : null;
    switch (e.key) {
      case "j": case "ArrowDown": focusRow(at + 1); break;
      case "k": case "ArrowUp": focusRow(at < 0 ? 0 : at - 1); break;
      case "x": case " ":
        if (!row) return;
        var b = row.querySelector("input[name=ids]");
        b.checked = !b.checked; update(); break;
      case "o": case "Enter":
        if (!row) return;
        window.location.href = row.getAttribute("data-href"); break;
      case "a":
        if (!boxes().some(function (b) { return b && b.checked; })) {
          if (!row) return;
          row.querySelector("input[name=ids]").checked = true;
        }
        document.getElementById("bulk-assign-me").click(); break;
      case "s":
        if (row && !boxes().some(function (b) { return b && b.checked; })) {
          row.querySelector("input[name=ids]").checked = true; update();
        }
        document.getElementById("b-state").focus(); break;
      case "/":
        var f = document.getElementById("queue-filters");
        if (f) f.open = true;
        document.getElementById("f-q").focus(); break;
      case "n": go("page-next"); break;
      case "p": go("page-prev"); break;
      case "?":
        document.getElementById("queue-keys").classList.toggle("notice"); break;
      default: return;
    }
    e.preventDefault();
  });
  update();
})();

// One incident's page: j/k to the next and previous open incident, a assigns it to
// the reader, s goes to its state.
(function () {
  "use strict";
  if (!document.getElementById("incident-page")) return;
  var state = document.getElementById("i-state");
  state.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { e.preventDefault(); document.getElementById("incident-save").click(); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
    var go = function (id) { var a = document.getElementById(id); if (a) window.location.href = a.href; };
    switch (e.key) {
      case "j": go("next-incident"); break;
      case "k": go("previous-incident"); break;
      case "a": document.getElementById("assign-me").click(); break;
      case "s": document.getElementById("i-state").focus(); break;
      default: return;
    }
    e.preventDefault();
  });
})();
