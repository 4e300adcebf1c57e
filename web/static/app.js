// gatehouse web UI: plain JavaScript over the public JSON API.
"use strict";

let csrfToken = "";

function show(text) {
  document.getElementById("message").textContent = text || "";
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrfToken && method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  const res = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const err = new Error((data && data.detail) || ("Request failed (" + res.status + ")."));
    err.status = res.status;
    throw err;
  }
  return data;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function when(iso) {
  return new Date(iso).toLocaleString();
}

async function loadMe() {
  try {
    const me = await api("GET", "/v1/me");
    csrfToken = me.csrf_token;
    return me;
  } catch (e) {
    if (e.status === 401) { window.location.assign("/"); return null; }
    throw e;
  }
}

// afterSignIn goes back where forward-auth sent the browser from, if the
// server agrees the place is allowed (/v1/redirect checks), else to /account.
function afterSignIn() {
  const rd = new URLSearchParams(window.location.search).get("rd");
  window.location.assign(rd ? "/v1/redirect?rd=" + encodeURIComponent(rd) : "/account");
}

function initIndex() {
  if (new URLSearchParams(window.location.search).get("rd")) {
    api("GET", "/v1/me").then(afterSignIn).catch(() => {});
  }
  const submit = (formId, path) => {
    const form = document.getElementById(formId);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      show("");
      try {
        await api("POST", path, { email: form.email.value, password: form.password.value });
        afterSignIn();
      } catch (e) {
        show(e.message);
      }
    });
  };
  submit("login-form", "/v1/login");
  submit("signup-form", "/v1/signup");
}

async function renderSessions() {
  const data = await api("GET", "/v1/sessions");
  const body = document.getElementById("sessions");
  body.replaceChildren();
  for (const s of data.sessions) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(s.device + (s.current ? " (this device)" : ""), s.current ? "current" : ""));
    tr.appendChild(cell(s.ip));
    tr.appendChild(cell(when(s.created_at)));
    tr.appendChild(cell(when(s.last_seen_at)));
    const td = document.createElement("td");
    if (!s.current) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Sign out";
      b.setAttribute("aria-label", "Sign out " + s.device);
      b.addEventListener("click", async () => {
        try { await api("DELETE", "/v1/sessions/" + encodeURIComponent(s.id)); await renderSessions(); show("Device signed out."); }
        catch (e) { show(e.message); }
      });
      td.appendChild(b);
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

async function initAccount() {
  const me = await loadMe();
  if (!me) return;
  document.getElementById("me-email").textContent = me.user.email;
  if (me.roles.includes("admin")) document.getElementById("admin-link").hidden = false;
  document.getElementById("logout").addEventListener("click", async () => {
    try { await api("POST", "/v1/logout"); } catch (e) { /* signed out either way */ }
    window.location.assign("/");
  });
  document.getElementById("revoke-others").addEventListener("click", async () => {
    try { const r = await api("DELETE", "/v1/sessions"); await renderSessions(); show(r.revoked + " other device(s) signed out."); }
    catch (e) { show(e.message); }
  });
  await renderSessions();
}

async function renderUsers() {
  const data = await api("GET", "/v1/admin/users");
  const body = document.getElementById("users");
  body.replaceChildren();
  for (const u of data.users) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(u.email));
    tr.appendChild(cell(u.roles.join(", ")));
    tr.appendChild(cell(u.disabled ? "disabled" : "active"));
    const td = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = "Force logout";
    b.setAttribute("aria-label", "Force logout " + u.email);
    b.addEventListener("click", async () => {
      try { const r = await api("POST", "/v1/admin/users/" + encodeURIComponent(u.id) + "/logout"); show(r.revoked + " session(s) ended for " + u.email + "."); }
      catch (e) { show(e.message); }
    });
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

async function initAdmin() {
  const me = await loadMe();
  if (!me) return;
  try { await renderUsers(); } catch (e) { show(e.message); }
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  const run = { index: initIndex, account: initAccount, admin: initAdmin }[page];
  if (run) Promise.resolve(run()).catch((e) => show(e.message));
});
