// gatehouse web UI, the part every page shares: calling the JSON API,
// the CSRF token, messages, times, a confirmation dialog and the header.
//
// Plain JavaScript, no build step, no inline code (the pages are served
// with a Content-Security-Policy that forbids it). Text reaches the page
// only as text nodes, never parsed as HTML, so data from the server
// (emails, user agents, audit details) cannot inject markup.
"use strict";

const gh = (() => {
  let csrfToken = "";

  // APIError is a failed API call: the HTTP status, the problem document
  // (RFC 9457) or OAuth error the server sent, and Retry-After in seconds.
  class APIError extends Error {
    constructor(status, problem, retryAfter) {
      super((problem && (problem.detail || problem.error_description)) ||
        ("The request failed (HTTP " + status + ")."));
      this.status = status;
      this.problem = problem || {};
      this.retryAfter = retryAfter;
    }
    // is reports whether the problem type is urn:gatehouse:problem:<code>.
    is(code) { return this.problem.type === "urn:gatehouse:problem:" + code; }
  }

  // api calls the JSON API with the session cookie. Every method that can
  // change state carries the session's CSRF token in X-CSRF-Token.
  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: "same-origin", cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new APIError(0, { detail: "The server could not be reached. Check your connection and try again." });
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const ra = parseInt(res.headers.get("Retry-After") || "", 10);
      const err = new APIError(res.status, data, Number.isFinite(ra) ? ra : 0);
      // A sensitive action needs a recent password check: ask for it on
      // pages that have the dialog, then try the action once more.
      if (err.is("reauthentication_required") && path !== "/v1/reauth" && await reauthenticate()) {
        return api(method, path, body);
      }
      throw err;
    }
    return data;
  }

  // reauthenticate shows the page's <dialog id="reauth">, sends the
  // password to POST /v1/reauth, and resolves to true once it is accepted.
  function reauthenticate() {
    const dialog = document.getElementById("reauth");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(false);
    const form = document.getElementById("reauth-form");
    const input = document.getElementById("reauth-password");
    const msg = document.getElementById("reauth-message");
    return new Promise((resolve) => {
      const submit = async (ev) => {
        ev.preventDefault(); // never a real form post
        if (ev.submitter && ev.submitter.value === "cancel") { dialog.close("cancel"); return; }
        try {
          await api("POST", "/v1/reauth", { password: input.value });
          form.removeEventListener("submit", submit);
          dialog.close("ok");
        } catch (e) {
          say(msg, e.status === 401 ? "That password is not right." : e.message, "error");
          input.select();
        }
      };
      form.addEventListener("submit", submit);
      dialog.addEventListener("close", () => {
        form.removeEventListener("submit", submit);
        input.value = "";
        say(msg, "");
        resolve(dialog.returnValue === "ok");
      }, { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      input.focus();
    });
  }

  // setCSRF remembers the session's CSRF token and copies it into every
  // form's hidden csrf_token field.
  function setCSRF(token) {
    csrfToken = token || "";
    for (const input of document.querySelectorAll('input[name="csrf_token"]')) input.value = csrfToken;
  }

  // el builds an element: el("td", {className: "x"}, "text", child, …).
  // Strings become text nodes; nothing is ever parsed as HTML.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("aria-") || k === "role" || k === "for" || k === "scope" || k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  // say shows text in a message element; kind is "ok", "error" or "".
  function say(target, text, kind) {
    const node = typeof target === "string" ? document.getElementById(target) : target;
    if (!node) return;
    node.textContent = text || "";
    node.classList.remove("ok", "error");
    if (text && kind) node.classList.add(kind);
  }

  // duration says n seconds the way people do: "45 seconds", "2 minutes 5 seconds".
  function duration(n) {
    n = Math.max(1, Math.ceil(n));
    const m = Math.floor(n / 60), s = n % 60;
    const part = (v, unit) => v + " " + unit + (v === 1 ? "" : "s");
    if (m === 0) return part(s, "second");
    return s === 0 ? part(m, "minute") : part(m, "minute") + " " + part(s, "second");
  }

  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  // relative says how long ago (or until) an RFC 3339 time is.
  function relative(iso) {
    const secs = (Date.parse(iso) - Date.now()) / 1000;
    const abs = Math.abs(secs);
    if (abs < 60) return secs <= 0 ? "just now" : "in under a minute";
    const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (const [unit, size] of units) {
      if (abs >= size) return rtf.format(Math.round(secs / size), unit);
    }
    return rtf.format(Math.round(secs / 60), "minute");
  }

  // time is a <time> element showing a relative time, with the exact
  // local time as its tooltip.
  function time(iso) {
    if (!iso) return el("span", { className: "muted" }, "—");
    const d = new Date(iso);
    return el("time", { dateTime: iso, title: dtf.format(d) }, relative(iso));
  }

  // absolute formats a time as a local date and time.
  function absolute(iso) { return iso ? dtf.format(new Date(iso)) : "—"; }

  // confirm asks a yes/no question in the page's <dialog id="confirm">
  // (keyboard: Tab between the buttons, Escape cancels) and resolves to
  // true only when the person chose the action.
  function confirm(question, action) {
    const dialog = document.getElementById("confirm");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(question));
    const opener = document.activeElement;
    document.getElementById("confirm-text").textContent = question;
    document.getElementById("confirm-ok").textContent = action;
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        if (opener && typeof opener.focus === "function" && opener.isConnected) opener.focus();
        resolve(dialog.returnValue === "ok");
      }, { once: true });
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  }

  // busy disables a button while fn runs, so a double click sends once.
  async function busy(button, fn) {
    if (button) button.disabled = true;
    try { return await fn(); } finally { if (button) button.disabled = false; }
  }

  // signedOut leaves a page whose session has ended for the sign-in page.
  function signedOut() {
    window.location.assign("/?session=ended");
  }

  // session loads the caller (GET /v1/me) and the CSRF token, or goes to
  // the sign-in page when there is no live session.
  async function session() {
    try {
      const me = await api("GET", "/v1/me");
      setCSRF(me.csrf_token);
      return me;
    } catch (e) {
      if (e.status === 401) { signedOut(); return null; }
      throw e;
    }
  }

  // guard runs an API action and turns failures into a message; an ended
  // session goes back to the sign-in page. It returns undefined on failure.
  async function guard(msg, fn) {
    try {
      return await fn();
    } catch (e) {
      if (e.status === 401) { signedOut(); return undefined; }
      say(msg, e.message, "error");
      return undefined;
    }
  }

  // header fills the page header: who is signed in, the admin link for
  // admins, and the sign-out button.
  function header(me) {
    const email = document.getElementById("me-email");
    if (email) email.textContent = me.user.email;
    const admin = document.getElementById("admin-link");
    if (admin) admin.hidden = !me.roles.includes("admin");
    const out = document.getElementById("logout");
    if (out) {
      out.hidden = false;
      out.addEventListener("click", () => busy(out, async () => {
        try { await api("POST", "/v1/logout"); } catch (e) { /* signed out either way */ }
        window.location.assign("/");
      }));
    }
    const who = document.getElementById("who");
    if (who) who.hidden = false;
  }

  // start runs a page's init function once the document is parsed.
  function start(init) {
    const run = () => Promise.resolve().then(init).catch((e) => say("message", e.message, "error"));
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  return { api, APIError, setCSRF, el, say, duration, relative, time, absolute, confirm, busy, session, guard, header, signedOut, start };
})();
