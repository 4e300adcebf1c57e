package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/useragent"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Mode     string `json:"mode,omitempty"`
}

// sessionJSON is a session as "your devices" shows it.
type sessionJSON struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	LastSeenAt    time.Time `json:"last_seen_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	IP            string    `json:"ip"`
	UserAgent     string    `json:"user_agent"`
	Device        string    `json:"device"`
	Current       bool      `json:"current"`
}

func toSessionJSON(s store.Session, currentID string) sessionJSON {
	return sessionJSON{
		ID: s.ID, CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, IdleExpiresAt: s.IdleExpiresAt,
		ExpiresAt: s.ExpiresAt, IP: s.IP, UserAgent: s.UserAgent,
		Device: useragent.Parse(s.UserAgent).String(), Current: s.ID == currentID,
	}
}

type signInJSON struct {
	User      userJSON    `json:"user"`
	Session   sessionJSON `json:"session"`
	CSRFToken string      `json:"csrf_token"`
}

func (a *API) readCredentials(w http.ResponseWriter, r *http.Request) (credentials, error) {
	if err := a.checkOrigin(r); err != nil {
		return credentials{}, err // login CSRF: another site must not sign you in as someone else
	}
	var c credentials
	if err := decodeJSON(w, r, &c); err != nil {
		return c, err
	}
	switch c.Mode {
	case "", "cookie", "token":
	default:
		return c, apperr.New(apperr.Unprocessable, `Field "mode" must be "cookie" or "token".`)
	}
	if c.Password == "" {
		return c, apperr.New(apperr.Unprocessable, "Password is required.")
	}
	return c, nil
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	c, err := a.readCredentials(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.svc.Signup(r.Context(), c.Email, c.Password, clientOf(r), c.Mode == "token")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.startSession(w, r, in, c.Mode, http.StatusCreated)
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	c, err := a.readCredentials(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.svc.Login(r.Context(), c.Email, c.Password, clientOf(r), c.Mode == "token")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.startSession(w, r, in, c.Mode, http.StatusOK)
}

// tokenResponse is the RFC 6749 section 5.1 answer, plus the session ID.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	SessionID    string `json:"session_id,omitempty"`
}

func toTokenResponse(p auth.TokenPair) tokenResponse {
	return tokenResponse{AccessToken: p.AccessToken, TokenType: "Bearer", ExpiresIn: int(p.ExpiresIn.Seconds()),
		RefreshToken: p.RefreshToken, SessionID: p.SessionID}
}

func (a *API) startSession(w http.ResponseWriter, r *http.Request, in auth.SignIn, mode string, status int) {
	if mode == "token" {
		pair, err := a.svc.LoginTokens(r.Context(), in)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, status, toTokenResponse(pair))
		return
	}
	a.startCookieSession(w, in, status)
}

func (a *API) startCookieSession(w http.ResponseWriter, in auth.SignIn, status int) {
	http.SetCookie(w, a.sessionCookie(in.Token, in.Session.ExpiresAt, in.Session.ExpiresAt.Sub(in.Session.CreatedAt)))
	writeJSON(w, status, signInJSON{
		User:      toUserJSON(in.User),
		Session:   toSessionJSON(in.Session, in.Session.ID),
		CSRFToken: auth.CSRFToken(in.Token),
	})
}

// sessionCookie is hardened: HttpOnly (no script access), SameSite=Lax,
// Path=/ and no Domain; with CookieSecure also Secure and the __Host-
// prefix, which makes browsers refuse it from subdomains or plain HTTP.
// Max-Age (relative) is what browsers obey; Expires is for old clients.
func (a *API) sessionCookie(token string, expires time.Time, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{
		Name: a.cookie, Value: token, Path: "/", Domain: a.cfg.CookieDomain, Expires: expires, MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: a.cfg.CookieSecure, SameSite: http.SameSiteLaxMode,
	}
}

func (a *API) clearCookie(w http.ResponseWriter) {
	c := a.sessionCookie("", time.Unix(0, 0), 0)
	c.MaxAge = -1
	http.SetCookie(w, c)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, c caller) {
	if err := a.svc.Logout(r.Context(), c.Session); err != nil {
		a.writeError(w, r, err)
		return
	}
	if !c.Bearer {
		a.clearCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

type meJSON struct {
	User        userJSON    `json:"user"`
	Roles       []string    `json:"roles"`
	Permissions []string    `json:"permissions"`
	Session     sessionJSON `json:"session"`
	CSRFToken   string      `json:"csrf_token,omitempty"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request, c caller) {
	u := toUserJSON(c.User)
	perms, err := a.svc.Permissions(r.Context(), c.User.Roles)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if perms == nil {
		perms = []string{}
	}
	m := meJSON{User: u, Roles: u.Roles, Permissions: perms, Session: toSessionJSON(c.Session, c.Session.ID)}
	if !c.Bearer {
		m.CSRFToken = auth.CSRFToken(c.sessionToken)
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := a.svc.ListSessions(r.Context(), c.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": sessionsJSON(list, c.Session.ID)})
}

func sessionsJSON(list []store.Session, currentID string) []sessionJSON {
	out := make([]sessionJSON, 0, len(list))
	for _, s := range list {
		out = append(out, toSessionJSON(s, currentID))
	}
	return out
}

func (a *API) revokeSession(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	if err := a.svc.RevokeSession(r.Context(), actorOf(r, c), c.User.ID, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	if id == c.Session.ID {
		a.clearCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) revokeOtherSessions(w http.ResponseWriter, r *http.Request, c caller) {
	n, err := a.svc.RevokeSessions(r.Context(), actorOf(r, c), c.User.ID, c.Session.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

func (a *API) adminListUsers(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			a.writeError(w, r, apperr.New(apperr.Invalid, "Query parameter limit must be a whole number from 1 to 1000."))
			return
		}
		limit = n
	}
	users, err := a.svc.ListUsers(r.Context(), store.ListUsersOptions{EmailPrefix: q.Get("email"), After: q.Get("after"), Limit: limit})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toUserJSON(u))
	}
	resp := map[string]any{"users": out}
	if len(users) == limit {
		resp["next_after"] = users[len(users)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

type newUserJSON struct {
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

func (a *API) adminCreateUser(w http.ResponseWriter, r *http.Request, c caller) {
	var in newUserJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if in.Password == "" {
		a.writeError(w, r, apperr.New(apperr.Unprocessable, "Password is required."))
		return
	}
	u, err := a.svc.CreateUser(r.Context(), actorOf(r, c), in.Email, in.Password, in.Roles)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u))
}

func (a *API) adminGetUser(w http.ResponseWriter, r *http.Request, c caller) {
	u, err := a.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
}

// userPatchJSON holds the fields an admin may change; absent fields stay.
type userPatchJSON struct {
	Roles    *[]string `json:"roles"`
	Disabled *bool     `json:"disabled"`
}

func (a *API) adminUpdateUser(w http.ResponseWriter, r *http.Request, c caller) {
	var in userPatchJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	if in.Roles == nil && in.Disabled == nil {
		a.writeError(w, r, apperr.New(apperr.Unprocessable, `Send "roles", "disabled" or both.`))
		return
	}
	if in.Roles != nil {
		if err := auth.ValidateRoles(*in.Roles); err != nil {
			a.writeError(w, r, err) // checked first so a bad list changes nothing
			return
		}
	}
	if in.Disabled != nil && *in.Disabled && id == c.User.ID {
		a.writeError(w, r, apperr.New(apperr.Unprocessable, "You cannot disable your own account."))
		return
	}
	u, err := a.svc.User(r.Context(), id)
	if in.Roles != nil && err == nil {
		u, err = a.svc.SetRoles(r.Context(), actorOf(r, c), id, *in.Roles)
	}
	if in.Disabled != nil && err == nil {
		u, err = a.svc.SetDisabled(r.Context(), actorOf(r, c), id, *in.Disabled)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
}

func (a *API) adminUserSessions(w http.ResponseWriter, r *http.Request, c caller) {
	u, err := a.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	list, err := a.svc.ListSessions(r.Context(), u.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": sessionsJSON(list, c.Session.ID)})
}

func (a *API) adminLogoutUser(w http.ResponseWriter, r *http.Request, c caller) {
	u, err := a.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	n, err := a.svc.RevokeSessions(r.Context(), actorOf(r, c), u.ID, "")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if u.ID == c.User.ID && !c.Bearer {
		a.clearCookie(w)
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// actorOf is the caller as the audit log records them.
func actorOf(r *http.Request, c caller) auth.Actor {
	return auth.Actor{UserID: c.User.ID, IP: clientIP(r)}
}

// isUnauthenticated reports whether err means "no valid session".
func isUnauthenticated(err error) bool {
	var e *apperr.Error
	return errors.As(err, &e) && e.Code == apperr.Unauthenticated
}

func (a *API) notFoundProblem(w http.ResponseWriter, r *http.Request) {
	a.writeError(w, r, apperr.New(apperr.NotFound, "There is nothing at this address."))
}

func (a *API) adminListKeys(w http.ResponseWriter, r *http.Request, c caller) {
	if a.cfg.Keys == nil {
		a.notFoundProblem(w, r)
		return
	}
	list, err := a.cfg.Keys.List(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": list})
}

func (a *API) adminRotateKeys(w http.ResponseWriter, r *http.Request, c caller) {
	if a.cfg.Keys == nil {
		a.notFoundProblem(w, r)
		return
	}
	k, err := a.cfg.Keys.Rotate(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.svc.AuditKeyRotated(r.Context(), actorOf(r, c), k.ID)
	writeJSON(w, http.StatusOK, k)
}

type auditJSON struct {
	ID        int64             `json:"id"`
	Time      time.Time         `json:"time"`
	Type      string            `json:"type"`
	ActorID   string            `json:"actor_id,omitempty"`
	UserID    string            `json:"user_id,omitempty"`
	SessionID string            `json:"session_id,omitempty"`
	IP        string            `json:"ip,omitempty"`
	Detail    map[string]string `json:"detail,omitempty"`
}

func (a *API) adminAudit(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	f := store.AuditFilter{UserID: q.Get("user"), Type: q.Get("type"), Limit: 100}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a.writeError(w, r, apperr.New(apperr.Invalid, "Query parameter "+name+" must be an RFC 3339 time, like 2026-01-02T15:04:05Z."))
				return
			}
			*dst = t
		}
	}
	for name, dst := range map[string]*int64{"before": &f.Before} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				a.writeError(w, r, apperr.New(apperr.Invalid, "Query parameter "+name+" must be a positive event ID."))
				return
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			a.writeError(w, r, apperr.New(apperr.Invalid, "Query parameter limit must be a whole number from 1 to 1000."))
			return
		}
		f.Limit = n
	}
	events, err := a.svc.ListAudit(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]auditJSON, 0, len(events))
	for _, e := range events {
		out = append(out, auditJSON(e))
	}
	resp := map[string]any{"events": out}
	if len(events) == f.Limit {
		resp["next_before"] = events[len(events)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

type passwordChangeJSON struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, c caller) {
	var in passwordChangeJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.svc.ChangePassword(r.Context(), c.Principal, in.CurrentPassword, in.NewPassword, clientOf(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type roleJSON struct {
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	Description string    `json:"description"`
	BuiltIn     bool      `json:"built_in"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

func toRoleJSON(r store.Role) roleJSON {
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	return roleJSON{Name: r.Name, Permissions: perms, Description: r.Description, BuiltIn: r.Name == auth.RoleAdmin, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (a *API) adminListRoles(w http.ResponseWriter, r *http.Request, c caller) {
	list, err := a.svc.ListRoles(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]roleJSON, 0, len(list))
	for _, x := range list {
		out = append(out, toRoleJSON(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": out})
}

type rolePutJSON struct {
	Permissions []string `json:"permissions"`
	Description string   `json:"description"`
}

func (a *API) adminPutRole(w http.ResponseWriter, r *http.Request, c caller) {
	var in rolePutJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if in.Permissions == nil {
		a.writeError(w, r, apperr.New(apperr.Unprocessable, `Send "permissions": a list such as ["notes:read", "notes:*"] (it may be empty).`))
		return
	}
	role, err := a.svc.PutRole(r.Context(), actorOf(r, c), r.PathValue("name"), in.Permissions, in.Description)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toRoleJSON(role))
}

func (a *API) adminDeleteRole(w http.ResponseWriter, r *http.Request, c caller) {
	if err := a.svc.DeleteRole(r.Context(), actorOf(r, c), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type reauthJSON struct {
	Password string `json:"password"`
}

// reauth confirms the caller's password and opens the window for
// sensitive actions (role changes, key rotation).
func (a *API) reauth(w http.ResponseWriter, r *http.Request, c caller) {
	var in reauthJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	sess, err := a.svc.Reauthenticate(r.Context(), c.Principal, in.Password, clientOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"auth_time": sess.AuthTime})
}

type forgotJSON struct {
	Email string `json:"email"`
}

// forgotPassword always answers 202 with the same body, whether or not the
// account exists (no enumeration).
func (a *API) forgotPassword(w http.ResponseWriter, r *http.Request) {
	if err := a.checkOrigin(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	var in forgotJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.svc.ForgotPassword(r.Context(), in.Email, clientOf(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "If an account with this email exists, a link to reset its password is on its way."})
}

type resetJSON struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (a *API) resetPassword(w http.ResponseWriter, r *http.Request) {
	if err := a.checkOrigin(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	var in resetJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	if in.Token == "" || in.NewPassword == "" {
		a.writeError(w, r, apperr.New(apperr.Unprocessable, `Send "token" and "new_password".`))
		return
	}
	if err := a.svc.ResetPassword(r.Context(), in.Token, in.NewPassword, clientOf(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// recent wraps an admin handler that needs a recent password check.
func (a *API) recent(h func(http.ResponseWriter, *http.Request, caller)) func(http.ResponseWriter, *http.Request, caller) {
	return func(w http.ResponseWriter, r *http.Request, c caller) {
		if err := a.svc.RequireRecentAuth(c.Principal); err != nil {
			a.writeError(w, r, err)
			return
		}
		h(w, r, c)
	}
}

type mePatchJSON struct {
	Email string `json:"email"`
}

// patchMe changes the caller's email; it needs a recent password check.
func (a *API) patchMe(w http.ResponseWriter, r *http.Request, c caller) {
	var in mePatchJSON
	if err := decodeJSON(w, r, &in); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.svc.ChangeEmail(r.Context(), c.Principal, in.Email, clientOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
}
