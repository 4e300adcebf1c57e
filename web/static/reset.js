// The reset page: the token comes in the URL fragment (never sent to a
// server); it is read once and removed from the address bar.
"use strict";

gh.start(() => {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token") || "";
  history.replaceState(null, "", window.location.pathname);
  const form = document.getElementById("reset-form");
  const msg = document.getElementById("reset-message");
  const button = form.querySelector("button[type=submit]");
  if (!token) {
    gh.say("message", "This page needs the link from your reset mail. Ask for a new one on the sign-in page.", "error");
    button.disabled = true;
    return;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const next = form.elements.new_password.value;
    if (next.length < 8) { gh.say(msg, "Use at least 8 characters.", "error"); return; }
    await gh.busy(button, async () => {
      try {
        await gh.api("POST", "/v1/password/reset", { token, new_password: next });
        gh.say(msg, "Your password is set. Every device was signed out. Sign in again.", "ok");
        button.disabled = true;
        setTimeout(() => window.location.assign("/"), 1500);
      } catch (e) {
        gh.say(msg, e.message, "error");
      }
    });
  });
});
