// The sign-in page: sign in, sign up, and return to ?rd= afterwards.
"use strict";

// afterSignIn goes back where forward-auth sent the browser from, if the
// server agrees the place is allowed (/v1/redirect checks), else to /account.
function afterSignIn() {
  const rd = new URLSearchParams(window.location.search).get("rd");
  window.location.assign(rd ? "/v1/redirect?rd=" + encodeURIComponent(rd) : "/account");
}

// explain turns a failed sign-in or sign-up into a sentence, and for a
// "wait" answer (429 backoff or busy, 503) counts down and keeps the
// button disabled.
function explain(e, msg, button) {
  if (e.status === 429 || (e.status === 503 && e.retryAfter > 0)) {
    let left = Math.max(1, e.retryAfter || 1);
    const lead = e.is("too_many_requests") ? "Too many failed sign-in attempts." : "The server is busy.";
    const tick = () => {
      if (left <= 0) {
        button.disabled = false;
        gh.say(msg, lead + " You can try again now.", "error");
        return;
      }
      gh.say(msg, lead + " Try again in " + gh.duration(left) + ".", "error");
      left--;
      setTimeout(tick, 1000);
    };
    button.disabled = true;
    tick();
    return true; // the countdown re-enables the button
  }
  let text = e.message;
  if (e.status === 401) text = "Wrong email or password.";
  else if (e.status === 403 && e.is("forbidden")) text = "This account is disabled. Contact an administrator.";
  else if (e.status === 409) text = "An account with this email already exists. Sign in instead.";
  gh.say(msg, text, "error");
  return false;
}

function wire(formId, path) {
  const form = document.getElementById(formId);
  const msg = document.getElementById(formId.replace("-form", "-message"));
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    gh.say(msg, "");
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email || !password) {
      gh.say(msg, "Enter your email and password.", "error");
      (email ? form.elements.password : form.elements.email).focus();
      return;
    }
    button.disabled = true;
    let counting = false;
    try {
      await gh.api("POST", path, { email, password, mode: "cookie" });
      gh.say(msg, "Signed in. One moment…", "ok");
      afterSignIn();
      return;
    } catch (e) {
      counting = explain(e, msg, button);
      form.elements.password.select();
    } finally {
      if (!counting) button.disabled = false;
    }
  });
}

gh.start(async () => {
  const params = new URLSearchParams(window.location.search);
  const rd = params.get("rd");
  if (rd) {
    let where = rd;
    try { where = new URL(rd).host; } catch (e) { /* shown as given */ }
    document.getElementById("continue").textContent = "Sign in to continue to " + where + ".";
  }
  if (params.get("session") === "ended") {
    gh.say("message", "Your session has ended. Please sign in again.", "");
  }
  wire("login-form", "/v1/login");
  wire("signup-form", "/v1/signup");
  // Already signed in? Continue to rd straight away, or offer the account.
  try {
    const me = await gh.api("GET", "/v1/me");
    if (params.get("rd")) { afterSignIn(); return; }
    document.getElementById("signed-in-email").textContent = me.user.email;
    document.getElementById("signed-in").hidden = false;
  } catch (e) {
    // Not signed in: the forms are what this page is for.
    document.getElementById("login-email").focus();
  }
});

// The forgot-password form always gets the same answer (no enumeration).
(function wireForgot() {
  const start = () => {
    const form = document.getElementById("forgot-form");
    if (!form) return;
    const msg = document.getElementById("forgot-message");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const email = form.elements.email.value.trim();
      if (!email) { gh.say(msg, "Enter your email.", "error"); return; }
      await gh.busy(button, async () => {
        try {
          const r = await gh.api("POST", "/v1/password/forgot", { email });
          gh.say(msg, r.status, "ok");
        } catch (e) {
          explain(e, msg, button);
        }
      });
    });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
