// linkd dashboard: small enhancements on top of pages that work without
// JavaScript. No inline script is allowed (Content-Security-Policy), so
// everything hooks onto data-* attributes here.
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", function () {
  udfEditors();
  tabs();
  bulkSelection();
  importProgress();
  autoRefresh();
  confirmations();
});

// UDF editor: add and remove rows without a round trip.
function udfEditors() {
  document.querySelectorAll("[data-udf]").forEach(function (box) {
    var rows = box.querySelector("[data-udf-rows]");
    var renumber = function () {
      rows.querySelectorAll("[data-udf-row]").forEach(function (row, i) {
        row.querySelectorAll("input").forEach(function (inp) {
          var kind = inp.name === "udf_key" ? "udf_key_" : "udf_value_";
          var lab = row.querySelector('label[for="' + inp.id + '"]');
          inp.id = kind + i;
          if (lab) lab.htmlFor = inp.id;
        });
        var rm = row.querySelector("[data-udf-remove]");
        if (rm) { rm.value = "remove_udf:" + i; rm.setAttribute("aria-label", "Remove field " + (i + 1)); }
      });
    };
    box.addEventListener("click", function (ev) {
      var add = ev.target.closest("[data-udf-add]");
      var rm = ev.target.closest("[data-udf-remove]");
      if (add) {
        ev.preventDefault();
        var last = rows.querySelector("[data-udf-row]:last-child");
        var row = last.cloneNode(true);
        row.querySelectorAll("input").forEach(function (inp) { inp.value = ""; inp.removeAttribute("aria-invalid"); });
        row.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
        rows.appendChild(row);
        renumber();
        row.querySelector("input").focus();
      } else if (rm) {
        ev.preventDefault();
        var all = rows.querySelectorAll("[data-udf-row]");
        var r = rm.closest("[data-udf-row]");
        if (all.length === 1) {
          r.querySelectorAll("input").forEach(function (inp) { inp.value = ""; });
          r.querySelector("input").focus();
          return;
        }
        var next = r.nextElementSibling || r.previousElementSibling;
        r.remove();
        renumber();
        (next.querySelector("input") || box.querySelector("[data-udf-add]")).focus();
      }
    });
  });
}

// Tabs switch in place (the links still work as pages).
function tabs() {
  document.querySelectorAll('[role="tablist"]').forEach(function (list) {
    var tabsEls = Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
    var select = function (tab, focus) {
      tabsEls.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
      history.replaceState(null, "", tab.href);
    };
    tabsEls.forEach(function (t, i) {
      t.tabIndex = t.getAttribute("aria-selected") === "true" ? 0 : -1;
      t.addEventListener("click", function (ev) { ev.preventDefault(); select(t, false); });
      t.addEventListener("keydown", function (ev) {
        var d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
        if (d) { ev.preventDefault(); select(tabsEls[(i + d + tabsEls.length) % tabsEls.length], true); }
      });
    });
  });
}

// Row selection on the accounts list: page checkbox, count, and the bulk
// actions shown only once something is selected.
function bulkSelection() {
  var form = document.querySelector("[data-bulk]");
  if (!form) return;
  var bar = form.querySelector("[data-bulkbar]");
  var page = form.querySelector("[data-select-page]");
  var matching = form.querySelector("[data-select-matching]");
  var count = form.querySelector("[data-selected-count]");
  var checks = function () { return Array.prototype.slice.call(form.querySelectorAll("[data-row-check]")); };
  var update = function () {
    var n = checks().filter(function (c) { return c.checked; }).length;
    var all = matching && matching.checked;
    bar.classList.toggle("has-selection", n > 0 || all);
    count.textContent = all ? "" : n > 0 ? n + " selected" : "";
    if (page) {
      page.checked = n > 0 && n === checks().length;
      page.indeterminate = n > 0 && n < checks().length;
    }
  };
  if (page) page.addEventListener("change", function () {
    checks().forEach(function (c) { c.checked = page.checked; });
    if (!page.checked && matching) matching.checked = false;
    update();
  });
  if (matching) matching.addEventListener("change", function () {
    checks().forEach(function (c) { c.checked = matching.checked; });
    update();
  });
  form.addEventListener("change", function (ev) {
    if (ev.target.matches("[data-row-check]") && !ev.target.checked && matching) matching.checked = false;
    update();
  });
  update();
}

// Import progress: poll the job's status and update the numbers in place;
// reload once it ends, to show the final state and the row errors.
function importProgress() {
  var box = document.querySelector("[data-import-status]");
  if (!box) return;
  var url = box.getAttribute("data-import-status");
  var fmt = new Intl.NumberFormat("en-US");
  var tick = function () {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        document.querySelectorAll("[data-k]").forEach(function (el) {
          var k = el.getAttribute("data-k");
          if (k in s) el.textContent = typeof s[k] === "number" ? fmt.format(s[k]) : s[k];
        });
        var bar = document.querySelector("[data-progress]");
        if (bar) { bar.value = s.percent; bar.textContent = s.percent + "%"; }
        if (s.finished) { location.reload(); return; }
        setTimeout(tick, 800);
      })
      .catch(function () { setTimeout(tick, 3000); });
  };
  setTimeout(tick, 500);
}

// Pages of running background work reload themselves.
function autoRefresh() {
  var el = document.querySelector("[data-autorefresh]");
  if (el) setTimeout(function () { location.reload(); }, parseInt(el.getAttribute("data-autorefresh"), 10) || 2000);
}

// Forms marked data-confirm="question" ask in a dialog before they submit;
// focus moves into the dialog and back to the button afterwards. (Without
// JavaScript the server's own confirmation step applies.)
function confirmations() {
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var q = form.getAttribute("data-confirm");
    if (!q || form.dataset.confirmed === "1") return;
    ev.preventDefault();
    var opener = ev.submitter || document.activeElement;
    var dlg = document.createElement("dialog");
    dlg.setAttribute("aria-labelledby", "confirm-q");
    var p = document.createElement("p");
    p.id = "confirm-q";
    p.textContent = q;
    var actions = document.createElement("div");
    actions.className = "form-actions";
    var no = document.createElement("button");
    no.type = "button"; no.className = "btn btn-ghost"; no.textContent = "Cancel";
    var yes = document.createElement("button");
    yes.type = "button"; yes.className = "btn " + (form.getAttribute("data-confirm-class") || "btn-danger");
    yes.textContent = form.getAttribute("data-confirm-button") || "Confirm";
    actions.append(no, yes);
    dlg.append(p, actions);
    document.body.appendChild(dlg);
    var close = function () { dlg.close(); dlg.remove(); if (opener) opener.focus(); };
    no.addEventListener("click", close);
    dlg.addEventListener("cancel", function (e) { e.preventDefault(); close(); });
    yes.addEventListener("click", function () {
      form.dataset.confirmed = "1";
      dlg.close(); dlg.remove();
      if (opener && opener.form === form && opener.name) form.requestSubmit(opener); else form.requestSubmit();
    });
    dlg.showModal();
    no.focus();
  });
}

// ---- Settings pages (dashboard/settings*.go) ----
document.addEventListener("DOMContentLoaded", function () {
  settingsCopyButtons();
  settingsAppIcons();
});

// Copy buttons: data-copy names the field whose value is copied, and the
// element with the same data-copy-status (an aria-live region) says
// "Copied". The buttons start hidden: without JavaScript the field is plain
// selectable text. Where the Clipboard API is missing (plain HTTP on
// another host) the text is selected and copied the old way.
function settingsCopyButtons() {
  document.querySelectorAll("[data-copy]").forEach(function (btn) {
    var id = btn.getAttribute("data-copy");
    var field = document.getElementById(id);
    if (!field) return;
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    var label = btn.textContent;
    var timer;
    btn.hidden = false;
    var say = function (ok) {
      btn.textContent = ok ? "Copied" : label;
      if (status) status.textContent = ok ? "Copied" : "Select the text and press Ctrl+C (⌘C) to copy it.";
      if (!ok) { field.focus(); field.select(); }
      clearTimeout(timer);
      timer = setTimeout(function () { btn.textContent = label; if (status) status.textContent = ""; }, 4000);
    };
    var fallback = function () {
      field.focus();
      field.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      say(ok);
    };
    btn.addEventListener("click", function () {
      if (status) status.textContent = "";
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { say(true); }, fallback);
      } else {
        fallback();
      }
    });
  });
}

// App icons come from the providers' sites: each shows once it has loaded
// (the stylesheet hides it until then), so one that is slow or never
// loads leaves the letter tile underneath.
function settingsAppIcons() {
  document.querySelectorAll("img[data-app-icon]").forEach(function (img) {
    var loaded = function () { if (img.naturalWidth > 0) img.classList.add("is-loaded"); else img.classList.add("is-broken"); };
    if (img.complete) loaded();
    img.addEventListener("load", loaded);
    img.addEventListener("error", function () { img.classList.add("is-broken"); });
  });
}
// ---- end of Settings ----

// ---- Linked account page (dashboard/account*.go) ----
document.addEventListener("DOMContentLoaded", function () {
  accountDialogs();
  accountToggles();
  accountCopy();
  accountIcons(document);
});

// Links marked data-dialog="ID" (the bin icons, "Delete Account") lead to
// confirmation pages; with JavaScript they open the <dialog> of that id,
// rendered into the page with the same words, instead. Focus moves to its
// Cancel button; Escape or Cancel close it and focus returns to the link.
function accountDialogs() {
  document.addEventListener("click", function (ev) {
    var link = ev.target.closest && ev.target.closest("a[data-dialog]");
    if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    var dlg = document.getElementById(link.getAttribute("data-dialog"));
    if (!dlg || typeof dlg.showModal !== "function") return;
    ev.preventDefault();
    openAccountDialog(dlg, link);
  });
  // The links act as buttons once they open a dialog: Space activates too.
  document.querySelectorAll("a[data-dialog]").forEach(function (link) {
    link.setAttribute("role", "button");
    link.addEventListener("keydown", function (ev) {
      if (ev.key === " ") { ev.preventDefault(); link.click(); }
    });
  });
}

function openAccountDialog(dlg, opener) {
  var cancel = dlg.querySelector("[data-dialog-close]");
  var onClose = function () {
    dlg.removeEventListener("close", onClose);
    if (opener && document.contains(opener)) opener.focus();
  };
  dlg.addEventListener("close", onClose);
  if (cancel && !cancel.dataset.bound) {
    cancel.dataset.bound = "1";
    cancel.addEventListener("click", function () { dlg.close(); });
  }
  dlg.showModal();
  (cancel || dlg.querySelector("button")).focus();
}

// Workflow switches post their form in the background and put the page's
// new state in place (the switch, the counts, the activity), keeping the
// scroll position and the focus; the outcome is announced in a live
// region. Without JavaScript, or if anything goes wrong, the form posts
// and the page reloads.
function accountToggles() {
  var toast = document.querySelector("[data-toast]");
  var timer;
  var say = function (text, error) {
    if (!toast) return;
    toast.classList.toggle("is-error", !!error);
    toast.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(function () { toast.textContent = ""; }, 6000);
  };
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("[data-wf-toggle]") || !window.fetch || !window.DOMParser) return;
    ev.preventDefault();
    var btn = form.querySelector("button");
    if (btn.classList.contains("is-busy")) return;
    btn.classList.add("is-busy");
    var row = form.closest("[id]");
    var rowID = row ? row.id : "";
    fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.text().then(function (html) { return { r: r, html: html }; }); })
      .then(function (res) {
        var doc = new DOMParser().parseFromString(res.html, "text/html");
        var next = doc.getElementById("workflows");
        // An error page, or the sign-in page of an expired session: let
        // the browser post the form itself and show what comes back.
        if (!res.r.ok || !next) { HTMLFormElement.prototype.submit.call(form); return; }
        ["workflows", "metrics", "integrations", "activity"].forEach(function (id) {
          var cur = document.getElementById(id), fresh = doc.getElementById(id);
          if (cur && fresh) cur.replaceWith(document.adoptNode(fresh));
        });
        accountIcons(document);
        // The page's notice, if any, was about an earlier action.
        var stale = document.querySelector("main > .notice");
        if (stale) stale.remove();
        var alert = document.querySelector("#workflows .alert");
        var notice = doc.querySelector(".notice");
        if (alert) say(alert.textContent.trim(), true);
        else if (notice) say(notice.textContent.trim(), false);
        var again = rowID && document.getElementById(rowID);
        var focus = again && again.querySelector("button");
        if (focus) focus.focus();
      })
      .catch(function () { HTMLFormElement.prototype.submit.call(form); });
  });
}

// The account id's copy button (hidden without JavaScript, where the id is
// plain selectable text).
function accountCopy() {
  document.querySelectorAll("[data-copy-text]").forEach(function (btn) {
    if (!navigator.clipboard || !window.isSecureContext) return;
    btn.hidden = false;
    var label = btn.getAttribute("aria-label");
    btn.addEventListener("click", function () {
      navigator.clipboard.writeText(btn.getAttribute("data-copy-text")).then(function () {
        btn.classList.add("is-copied");
        btn.setAttribute("aria-label", "Copied");
        setTimeout(function () { btn.classList.remove("is-copied"); btn.setAttribute("aria-label", label); }, 2500);
      });
    });
  });
}

// App icons come from the providers' sites: one that does not load is
// removed, leaving the letter tile underneath.
function accountIcons(root) {
  root.querySelectorAll(".acct-appicon img").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0) { img.remove(); return; }
    img.addEventListener("error", function () { img.remove(); });
  });
}
// ---- end of Linked account page ----
