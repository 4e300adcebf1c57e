// The account page: your devices (sessions), signing them out, and
// changing your password.
"use strict";

// renderSessions lists the caller's live sessions, this device first.
async function renderSessions() {
  const list = document.getElementById("sessions");
  const data = await gh.api("GET", "/v1/sessions");
  const sessions = data.sessions.slice().sort((a, b) => (b.current - a.current));
  list.replaceChildren(...sessions.map(deviceItem));
  list.setAttribute("aria-busy", "false");
  const others = sessions.filter((s) => !s.current).length;
  const all = document.getElementById("revoke-others");
  all.disabled = others === 0;
  all.textContent = others > 0 ? "Sign out all other devices (" + others + ")" : "Sign out all other devices";
}

function deviceItem(s) {
  const name = s.device || "Unknown browser";
  const item = gh.el("li", { className: s.current ? "device current" : "device", dataset: { session: s.id } },
    gh.el("div", { className: "device-main" },
      gh.el("strong", { className: "device-name", title: s.user_agent || "" }, name),
      s.current ? gh.el("span", { className: "badge" }, "This device") : null),
    gh.el("dl", { className: "facts" },
      gh.el("div", {}, gh.el("dt", {}, "IP address"), gh.el("dd", {}, s.ip || "—")),
      gh.el("div", {}, gh.el("dt", {}, "Last active"), gh.el("dd", {}, s.current ? "now" : gh.time(s.last_seen_at))),
      gh.el("div", {}, gh.el("dt", {}, "Signed in"), gh.el("dd", {}, gh.time(s.created_at)))));
  if (!s.current) {
    const b = gh.el("button", { type: "button", className: "secondary", "aria-label": "Sign out " + name + " (" + (s.ip || "unknown IP") + ")" }, "Sign out");
    b.addEventListener("click", async () => {
      if (!await gh.confirm("Sign out " + name + " at " + (s.ip || "an unknown address") + "? It will have to sign in again.", "Sign out")) return;
      await gh.busy(b, () => gh.guard("devices-message", async () => {
        await gh.api("DELETE", "/v1/sessions/" + encodeURIComponent(s.id));
        await renderSessions();
        gh.say("devices-message", name + " was signed out.", "ok");
        document.getElementById("devices-title").focus();
      }));
    });
    item.append(b);
  }
  return item;
}

function wirePassword(me) {
  const form = document.getElementById("password-form");
  form.elements.username.value = me.user.email; // lets password managers update the right entry
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = "password-message";
    const cur = form.elements.current_password, next = form.elements.new_password, again = form.elements.confirm_password;
    gh.say(msg, "");
    if (!cur.value || !next.value) { gh.say(msg, "Enter your current and your new password.", "error"); (cur.value ? next : cur).focus(); return; }
    if (next.value !== again.value) { gh.say(msg, "The two new passwords differ.", "error"); again.focus(); return; }
    await gh.busy(button, async () => {
      try {
        await gh.api("POST", "/v1/password", { current_password: cur.value, new_password: next.value });
        form.reset();
        form.elements.csrf_token.value = me.csrf_token;
        form.elements.username.value = me.user.email;
        gh.say(msg, "Password changed. Every other device was signed out.", "ok");
        await gh.guard("devices-message", renderSessions);
      } catch (e) {
        if (e.status === 401) {
          // Either the current password is wrong or the session ended.
          try { await gh.api("GET", "/v1/me"); } catch (e2) { if (e2.status === 401) { gh.signedOut(); return; } }
          gh.say(msg, "Your current password is wrong.", "error");
          cur.select();
        } else if (e.status === 429) {
          const lead = e.is("busy") ? "The server is busy." : "Too many wrong passwords.";
          gh.say(msg, lead + " Try again in " + gh.duration(e.retryAfter || 1) + ".", "error");
        } else {
          gh.say(msg, e.message, "error");
        }
      }
    });
  });
}

gh.start(async () => {
  const me = await gh.session();
  if (!me) return;
  gh.header(me);
  document.getElementById("devices-title").tabIndex = -1;
  const all = document.getElementById("revoke-others");
  all.addEventListener("click", async () => {
    if (!await gh.confirm("Sign out every device except this one?", "Sign out others")) return;
    const r = await gh.busy(all, () => gh.guard("devices-message", () => gh.api("DELETE", "/v1/sessions")));
    if (!r) return;
    gh.say("devices-message", r.revoked === 1 ? "1 other device was signed out." : r.revoked + " other devices were signed out.", "ok");
    await gh.guard("devices-message", renderSessions);
  });
  wirePassword(me);
  await gh.guard("devices-message", renderSessions);
});
