// OpenTasks console: confirmations, local-time schedules, and live updates.
// Every page works without this script; it only adds to them.
(function () {
  "use strict";

  var POLL_MS = 1000;

  // --- Confirmations: a form with data-confirm asks first, in a dialog.
  var dialog = document.getElementById("confirm");
  var pending = null;
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    if (form === pending) return; // confirmed: let it go
    ev.preventDefault();
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(form.getAttribute("data-confirm"))) submit(form);
      return;
    }
    document.getElementById("confirm-text").textContent = form.getAttribute("data-confirm");
    document.getElementById("confirm-ok").textContent = form.getAttribute("data-confirm-label") || "Confirm";
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "ok") submit(form);
    };
    dialog.showModal();
  });
  function submit(form) {
    pending = form;
    // requestSubmit fires submit again (passed through above); a form
    // replaced by a live update meanwhile is submitted all the same.
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  // --- Schedule times are typed in the browser's zone: tell the server
  // the offset, and say so next to the field.
  document.querySelectorAll("input[data-tz]").forEach(function (el) {
    el.value = String(new Date().getTimezoneOffset());
  });
  document.querySelectorAll("[data-tz-label]").forEach(function (el) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    el.textContent = "(" + (zone ? zone + " time" : "your local time") + "; empty for now)";
  });

  // --- A create panel stays as the user left it, across the reload an
  // action makes.
  document.querySelectorAll("details.create[id]").forEach(function (el) {
    var key = "opentasks-console-open-" + el.id;
    try {
      if (sessionStorage.getItem(key) === "1") el.open = true;
    } catch (e) { /* storage off: panels start closed */ }
    el.addEventListener("toggle", function () {
      try { sessionStorage.setItem(key, el.open ? "1" : "0"); } catch (e) { /* ignore */ }
    });
  });

  // --- The toast from the last action fades after a while.
  var toast = document.getElementById("toast");
  if (toast) {
    var hide = function () { toast.classList.add("hide"); };
    toast.querySelector(".toast-close").addEventListener("click", hide);
    setTimeout(hide, 6000);
  }

  // --- Live updates: fetch this page again and morph its live regions.
  if (!document.body.hasAttribute("data-live-poll")) return;
  var state = document.getElementById("live-state");
  var inFlight = false;
  var failures = 0;

  function setState(cls, text) {
    if (!state) return;
    state.classList.remove("stale", "paused");
    if (cls) state.classList.add(cls);
    var t = state.querySelector(".live-text");
    if (t.textContent !== text) t.textContent = text;
  }

  function poll() {
    if (inFlight) return;
    if (document.visibilityState !== "visible") { setState("paused", "Paused"); return; }
    inFlight = true;
    fetch(window.location.href, { headers: { "X-Console-Live": "1" }, credentials: "same-origin", cache: "no-store", redirect: "manual" })
      .then(function (resp) {
        // A redirect (sign-in needed) or a non-page answer: keep what is
        // shown and say it is stale; the next navigation will tell why.
        if (resp.type === "opaqueredirect" || !(resp.headers.get("Content-Type") || "").startsWith("text/html")) {
          throw new Error("no page");
        }
        return resp.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var next = el.id && doc.getElementById(el.id);
          if (next) morph(el, next);
        });
        failures = 0;
        setState("", "Live");
      })
      .catch(function () {
        failures++;
        setState("stale", "Offline");
      })
      .finally(function () { inFlight = false; });
  }
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", poll);

  // morph makes the DOM under `from` equal to that under `to`, touching
  // only what differs: elements are matched by id, else by position and
  // tag, so focus, selection and typed text survive an update.
  function morph(from, to) {
    if (from.nodeType === Node.TEXT_NODE || from.nodeType === Node.COMMENT_NODE) {
      if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
      return;
    }
    syncAttributes(from, to);
    if (from.tagName === "TEXTAREA" || from.tagName === "SELECT") return; // the user's input
    if (from.tagName === "INPUT") return;
    var byId = {};
    Array.prototype.forEach.call(from.children, function (c) { if (c.id) byId[c.id] = c; });
    var wanted = Array.prototype.slice.call(to.childNodes);
    var cur = from.firstChild;
    wanted.forEach(function (want) {
      var match = null;
      if (want.nodeType === Node.ELEMENT_NODE && want.id) {
        match = byId[want.id] || null;
      } else if (cur && cur.nodeType === want.nodeType && !(cur.id) &&
                 (want.nodeType !== Node.ELEMENT_NODE || cur.tagName === want.tagName)) {
        match = cur;
      }
      if (match) {
        if (match !== cur) from.insertBefore(match, cur);
        else cur = cur.nextSibling;
        morph(match, want);
      } else {
        from.insertBefore(document.importNode(want, true), cur);
      }
    });
    while (cur) {
      var next = cur.nextSibling;
      from.removeChild(cur);
      cur = next;
    }
  }

  function syncAttributes(from, to) {
    var i, a;
    for (i = from.attributes.length - 1; i >= 0; i--) {
      a = from.attributes[i];
      if (!to.hasAttribute(a.name) && a.name !== "open") from.removeAttribute(a.name);
    }
    for (i = 0; i < to.attributes.length; i++) {
      a = to.attributes[i];
      if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
    }
  }
})();
