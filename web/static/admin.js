// The admin page: users (find, roles, disable, force sign-out, sessions),
// roles, the audit log and the signing keys. Everything goes through the
// admin JSON API; the server checks the admin role on every call, so
// hiding the page from others is a courtesy, not the defence.
"use strict";

const state = {
  me: null,
  usersAfter: "",       // next_after of the last user page
  auditBefore: 0,       // next_before of the last audit page
  auditQuery: "",       // the filter the audit pages were fetched with
  selected: null,       // the user shown in the detail panel
  roles: [],            // role definitions, for the checkboxes
  emails: new Map(),    // user ID → email, for the audit log
  lookups: new Map(),   // user ID → pending lookup
};

// splitList reads "a, b c\nd" as ["a", "b", "c", "d"].
function splitList(s) {
  return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

function td(label, ...children) {
  return gh.el("td", { "data-label": label }, ...children);
}

// tdn is a cell that does not wrap (times, event names, IP addresses).
function tdn(label, ...children) {
  const cell = td(label, ...children);
  cell.className = "nowrap";
  return cell;
}

// short cuts a long value (a raw User-Agent, a list of session IDs) for
// the table; the whole value stays in the tooltip.
function short(s, n) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

function roleTags(roles) {
  if (!roles.length) return gh.el("span", { className: "muted" }, "none");
  return roles.map((r) => gh.el("span", { className: "tag" }, r));
}

function statusTag(u) {
  return u.disabled ? gh.el("span", { className: "tag warn" }, "disabled") : gh.el("span", { className: "tag ok" }, "active");
}

// ---- users ----

async function findUsers(more) {
  const email = document.getElementById("search-email").value.trim();
  const q = new URLSearchParams({ limit: "50" });
  if (email) q.set("email", email.toLowerCase());
  if (more && state.usersAfter) q.set("after", state.usersAfter);
  const data = await gh.api("GET", "/v1/admin/users?" + q);
  const body = document.getElementById("users-body");
  if (!more) body.replaceChildren();
  for (const u of data.users) {
    state.emails.set(u.id, u.email);
    body.append(userRow(u));
  }
  state.usersAfter = data.next_after || "";
  document.getElementById("users-more").hidden = !state.usersAfter;
  const shown = body.children.length;
  gh.say("users-message", shown === 0 ? "No users found." : shown === 1 ? "1 user." : shown + " users" + (state.usersAfter ? " so far." : "."), "");
}

function userRow(u) {
  const manage = gh.el("button", { type: "button", className: "secondary", "aria-label": "Manage " + u.email }, "Manage");
  manage.addEventListener("click", () => gh.guard("users-message", () => showUser(u.id, true)));
  return gh.el("tr", { dataset: { user: u.id } },
    td("Email", gh.el("span", { className: "email" }, u.email)),
    td("Roles", roleTags(u.roles)),
    tdn("Status", statusTag(u)),
    tdn("Created", gh.time(u.created_at)),
    td("", manage));
}

// refreshRow redraws a user's row in the results after a change.
function refreshRow(u) {
  const row = document.querySelector('#users-body tr[data-user="' + CSS.escape(u.id) + '"]');
  if (row) row.replaceWith(userRow(u));
}

async function showUser(id, focus) {
  const [u, s] = await Promise.all([
    gh.api("GET", "/v1/admin/users/" + encodeURIComponent(id)),
    gh.api("GET", "/v1/admin/users/" + encodeURIComponent(id) + "/sessions"),
  ]);
  state.selected = u;
  state.emails.set(u.id, u.email);
  document.getElementById("user-detail").hidden = false;
  document.getElementById("detail-title").textContent = u.email;
  document.getElementById("detail-id").textContent = u.id;
  document.getElementById("detail-status").replaceChildren(statusTag(u));
  document.getElementById("detail-created").textContent = gh.absolute(u.created_at);
  document.getElementById("detail-updated").textContent = gh.absolute(u.updated_at);
  gh.say("detail-message", "");
  renderRoleChecks(u.roles);
  const self = u.id === state.me.user.id;
  const dis = document.getElementById("detail-disable");
  dis.hidden = self; // the server refuses to let an admin disable themself
  dis.textContent = u.disabled ? "Enable account" : "Disable account";
  dis.className = u.disabled ? "secondary" : "danger";
  renderUserSessions(s.sessions);
  refreshRow(u);
  if (focus) document.getElementById("detail-title").focus();
}

function renderRoleChecks(roles) {
  const known = state.roles.map((r) => r.name);
  const box = document.getElementById("role-checks");
  box.replaceChildren(...known.map((name) => {
    const id = "role-check-" + name.replace(/[^a-z0-9_-]/g, "_");
    return gh.el("div", { className: "check" },
      gh.el("input", { type: "checkbox", id, name: "role", value: name, checked: roles.includes(name) }),
      gh.el("label", { for: id }, name));
  }));
  document.getElementById("extra-roles").value = roles.filter((r) => !known.includes(r)).join(", ");
}

function renderUserSessions(list) {
  const body = document.getElementById("detail-sessions");
  if (!list.length) {
    body.replaceChildren(gh.el("tr", {}, gh.el("td", { colSpan: 5, className: "muted" }, "No live sessions.")));
    return;
  }
  body.replaceChildren(...list.map((s) => gh.el("tr", {},
    td("Device", gh.el("span", { title: s.user_agent || "" }, s.device || "Unknown browser"), s.current ? gh.el("span", { className: "badge" }, "you, here") : null),
    tdn("IP address", s.ip || "—"),
    tdn("Signed in", gh.time(s.created_at)),
    tdn("Last active", gh.time(s.last_seen_at)),
    tdn("Ends", gh.time(Date.parse(s.idle_expires_at) < Date.parse(s.expires_at) ? s.idle_expires_at : s.expires_at)))));
}

function wireUsers() {
  document.getElementById("user-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    gh.guard("users-message", () => findUsers(false));
  });
  const more = document.getElementById("users-more");
  more.addEventListener("click", () => gh.busy(more, () => gh.guard("users-message", () => findUsers(true))));

  const add = document.getElementById("add-user-form");
  add.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = add.querySelector("button[type=submit]");
    gh.say("add-user-message", "");
    const u = await gh.busy(button, () => gh.guard("add-user-message", () => gh.api("POST", "/v1/admin/users", {
      email: add.elements.email.value.trim(), password: add.elements.password.value, roles: splitList(add.elements.roles.value),
    })));
    if (!u) return;
    add.reset();
    gh.setCSRF(state.me.csrf_token);
    gh.say("add-user-message", "Added " + u.email + ".", "ok");
    state.emails.set(u.id, u.email);
    document.getElementById("users-body").prepend(userRow(u));
  });

  const rolesForm = document.getElementById("user-roles-form");
  rolesForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const u = state.selected;
    if (!u) return;
    const roles = [...rolesForm.querySelectorAll('input[name="role"]:checked')].map((c) => c.value)
      .concat(splitList(document.getElementById("extra-roles").value));
    const unique = [...new Set(roles)];
    if (u.id === state.me.user.id && u.roles.includes("admin") && !unique.includes("admin") &&
        !await gh.confirm("Remove your own admin role? You will lose access to this page.", "Remove it")) return;
    const button = rolesForm.querySelector("button[type=submit]");
    const updated = await gh.busy(button, () => gh.guard("detail-message", () =>
      gh.api("PATCH", "/v1/admin/users/" + encodeURIComponent(u.id), { roles: unique })));
    if (!updated) return;
    await gh.guard("detail-message", () => showUser(u.id, false));
    gh.say("detail-message", "Roles saved: " + (updated.roles.join(", ") || "none") + ".", "ok");
  });

  const dis = document.getElementById("detail-disable");
  dis.addEventListener("click", async () => {
    const u = state.selected;
    if (!u) return;
    const disable = !u.disabled;
    if (disable && !await gh.confirm("Disable " + u.email + "? Every session ends now and sign-in is refused until you enable the account again.", "Disable")) return;
    const updated = await gh.busy(dis, () => gh.guard("detail-message", () =>
      gh.api("PATCH", "/v1/admin/users/" + encodeURIComponent(u.id), { disabled: disable })));
    if (!updated) return;
    await gh.guard("detail-message", () => showUser(u.id, false));
    gh.say("detail-message", u.email + (disable ? " is disabled and signed out everywhere." : " is enabled again."), "ok");
  });

  const out = document.getElementById("detail-logout");
  out.addEventListener("click", async () => {
    const u = state.selected;
    if (!u) return;
    const self = u.id === state.me.user.id;
    if (!await gh.confirm("End every session of " + u.email + (self ? ", including this one" : "") + "? Their access tokens stop working too.", "Sign out everywhere")) return;
    const r = await gh.busy(out, () => gh.guard("detail-message", () =>
      gh.api("POST", "/v1/admin/users/" + encodeURIComponent(u.id) + "/logout")));
    if (!r) return;
    if (self) { gh.signedOut(); return; }
    await gh.guard("detail-message", () => showUser(u.id, false));
    gh.say("detail-message", (r.revoked === 1 ? "1 session" : r.revoked + " sessions") + " ended for " + u.email + ".", "ok");
  });

  document.getElementById("detail-audit").addEventListener("click", () => {
    const u = state.selected;
    if (!u) return;
    document.getElementById("audit-user").value = u.email;
    document.getElementById("audit-type").value = "";
    gh.guard("audit-message", () => loadAudit(false)).then(() => document.getElementById("audit-title").focus());
  });
}

// ---- roles ----

async function loadRoles() {
  const data = await gh.api("GET", "/v1/admin/roles");
  state.roles = data.roles;
  const body = document.getElementById("roles-body");
  body.replaceChildren(...data.roles.map(roleRow));
  if (state.selected) renderRoleChecks(currentChecked());
}

// currentChecked keeps what the detail panel shows while roles reload.
function currentChecked() {
  const checked = [...document.querySelectorAll('#role-checks input[name="role"]:checked')].map((c) => c.value);
  return checked.concat(splitList(document.getElementById("extra-roles").value));
}

function roleRow(r) {
  const actions = td("");
  if (r.built_in) {
    actions.append(gh.el("span", { className: "muted" }, "built in"));
  } else {
    const edit = gh.el("button", { type: "button", className: "secondary", "aria-label": "Edit role " + r.name }, "Edit");
    edit.addEventListener("click", () => {
      const f = document.getElementById("role-form");
      f.elements.name.value = r.name;
      f.elements.description.value = r.description || "";
      f.elements.permissions.value = r.permissions.join("\n");
      document.getElementById("role-form-title").textContent = "Edit role " + r.name;
      gh.say("role-form-message", "");
      f.elements.permissions.focus();
    });
    const del = gh.el("button", { type: "button", className: "danger", "aria-label": "Delete role " + r.name }, "Delete");
    del.addEventListener("click", async () => {
      if (!await gh.confirm("Delete the role " + r.name + "? Everyone who holds it loses its permissions at once (their access tokens must be renewed).", "Delete role")) return;
      const ok = await gh.busy(del, () => gh.guard("roles-message", async () => {
        await gh.api("DELETE", "/v1/admin/roles/" + encodeURIComponent(r.name));
        return true;
      }));
      if (!ok) return;
      await gh.guard("roles-message", loadRoles);
      gh.say("roles-message", "Role " + r.name + " deleted.", "ok");
    });
    actions.append(edit, " ", del);
  }
  return gh.el("tr", { dataset: { role: r.name } },
    td("Name", gh.el("strong", {}, r.name)),
    td("Description", r.description || gh.el("span", { className: "muted" }, "—")),
    td("Permissions", r.permissions.length ? r.permissions.map((p) => gh.el("code", { className: "tag" }, p)) : gh.el("span", { className: "muted" }, "none")),
    actions);
}

function wireRoles() {
  const f = document.getElementById("role-form");
  f.addEventListener("reset", () => {
    document.getElementById("role-form-title").textContent = "Create a role";
    gh.say("role-form-message", "");
    setTimeout(() => gh.setCSRF(state.me.csrf_token)); // reset clears hidden fields after this event
  });
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = f.elements.name.value.trim();
    if (!name) { gh.say("role-form-message", "Give the role a name.", "error"); f.elements.name.focus(); return; }
    const button = f.querySelector("button[type=submit]");
    const role = await gh.busy(button, () => gh.guard("role-form-message", () =>
      gh.api("PUT", "/v1/admin/roles/" + encodeURIComponent(name), {
        permissions: splitList(f.elements.permissions.value), description: f.elements.description.value.trim(),
      })));
    if (!role) return;
    await gh.guard("roles-message", loadRoles);
    f.reset();
    gh.say("role-form-message", "Role " + role.name + " saved.", "ok");
  });
}

// ---- audit ----

// userLabel shows a user ID as its email once known; unknown IDs are
// looked up once.
function userLabel(id) {
  if (!id) return gh.el("span", { className: "muted" }, "—");
  const span = gh.el("span", { className: "email", title: id }, state.emails.get(id) || id);
  if (!state.emails.has(id)) {
    if (!state.lookups.has(id)) {
      state.lookups.set(id, gh.api("GET", "/v1/admin/users/" + encodeURIComponent(id))
        .then((u) => { state.emails.set(id, u.email); return u.email; })
        .catch(() => id));
    }
    state.lookups.get(id).then((email) => { span.textContent = email; });
  }
  return span;
}

async function auditQuery() {
  const q = new URLSearchParams({ limit: "50" });
  let user = document.getElementById("audit-user").value.trim();
  if (user.includes("@")) {
    const found = await gh.api("GET", "/v1/admin/users?" + new URLSearchParams({ email: user.toLowerCase(), limit: "1" }));
    const u = found.users.find((x) => x.email === user.toLowerCase());
    if (!u) throw new gh.APIError(404, { detail: "No user has the email " + user + "." });
    state.emails.set(u.id, u.email);
    user = u.id;
  }
  if (user) q.set("user", user);
  const type = document.getElementById("audit-type").value;
  if (type) q.set("type", type);
  for (const name of ["since", "until"]) {
    const v = document.getElementById("audit-" + name).value;
    if (v) q.set(name, new Date(v).toISOString());
  }
  return q;
}

async function loadAudit(more) {
  let q;
  if (more) {
    q = new URLSearchParams(state.auditQuery);
    q.set("before", String(state.auditBefore));
  } else {
    q = await auditQuery();
    state.auditQuery = q.toString();
  }
  const data = await gh.api("GET", "/v1/admin/audit?" + q);
  const body = document.getElementById("audit-body");
  if (!more) body.replaceChildren();
  for (const e of data.events) body.append(auditRow(e));
  state.auditBefore = data.next_before || 0;
  document.getElementById("audit-more").hidden = !state.auditBefore;
  const n = body.children.length;
  gh.say("audit-message", n === 0 ? "No events match." : (n === 1 ? "1 event" : n + " events") + (state.auditBefore ? " so far." : "."), "");
}

function auditRow(e) {
  const entries = Object.entries(e.detail || {}).filter(([, v]) => v !== "");
  const full = entries.map(([k, v]) => k + ": " + v).join(" · ");
  const brief = entries.map(([k, v]) => k + ": " + short(v, 48)).join(" · ");
  return gh.el("tr", { dataset: { event: String(e.id) } },
    tdn("Time", gh.time(e.time)),
    tdn("Event", gh.el("code", { className: "tag" + (/failed|reuse|disabled/.test(e.type) ? " warn" : "") }, e.type)),
    tdn("User", userLabel(e.user_id)),
    tdn("By", e.actor_id && e.actor_id !== e.user_id ? userLabel(e.actor_id) : gh.el("span", { className: "muted" }, e.user_id ? "themself" : "—")),
    tdn("IP address", e.ip || "—"),
    td("Details", gh.el("span", { className: "details", title: full }, brief || "—")));
}

function wireAudit() {
  document.getElementById("audit-filter").addEventListener("submit", (ev) => {
    ev.preventDefault();
    gh.guard("audit-message", () => loadAudit(false));
  });
  const more = document.getElementById("audit-more");
  more.addEventListener("click", () => gh.busy(more, () => gh.guard("audit-message", () => loadAudit(true))));
}

// ---- keys ----

async function loadKeys() {
  const data = await gh.api("GET", "/v1/admin/keys");
  const keys = data.keys.slice().sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
  document.getElementById("keys-body").replaceChildren(...keys.map((k) => gh.el("tr", { dataset: { key: k.id } },
    td("Key ID", gh.el("code", {}, k.id)),
    tdn("Algorithm", k.alg),
    tdn("State", gh.el("span", { className: "tag" + (k.state === "signing" ? " ok" : "") }, k.state)),
    tdn("Created", gh.time(k.created_at)),
    tdn("Retired", gh.time(k.retired_at)))));
}

function wireKeys() {
  const rotate = document.getElementById("keys-rotate");
  rotate.addEventListener("click", async () => {
    if (!await gh.confirm("Make a new signing key now? Tokens signed with the current key stay valid until they expire.", "Rotate")) return;
    const k = await gh.busy(rotate, () => gh.guard("keys-message", () => gh.api("POST", "/v1/admin/keys/rotate")));
    if (!k) return;
    await gh.guard("keys-message", loadKeys);
    gh.say("keys-message", "New signing key " + k.id + " (" + k.alg + ").", "ok");
  });
}

gh.start(async () => {
  const me = await gh.session();
  if (!me) return;
  state.me = me;
  gh.header(me);
  state.emails.set(me.user.id, me.user.email);
  if (!me.roles.includes("admin")) {
    document.getElementById("denied").hidden = false;
    return;
  }
  document.getElementById("admin-ui").hidden = false;
  for (const id of ["users-title", "roles-title", "audit-title", "keys-title"]) document.getElementById(id).tabIndex = -1;
  wireUsers();
  wireRoles();
  wireAudit();
  wireKeys();
  await Promise.all([
    gh.guard("users-message", () => findUsers(false)),
    gh.guard("roles-message", loadRoles),
    gh.guard("audit-message", () => loadAudit(false)),
    gh.guard("keys-message", loadKeys),
  ]);
});
