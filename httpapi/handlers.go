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
	case "", "cookie":
	case "token":
		return c, apperr.New(apperr.Unprocessable, `Token mode is not available yet on this server; use mode "cookie".`)
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
	in, err := a.svc.Signup(r.Context(), c.Email, c.Password, clientOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.startCookieSession(w, in, http.StatusCreated)
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	c, err := a.readCredentials(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	in, err := a.svc.Login(r.Context(), c.Email, c.Password, clientOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.startCookieSession(w, in, http.StatusOK)
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
		Name: a.cookie, Value: token, Path: "/", Expires: expires, MaxAge: int(maxAge.Seconds()),
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
	a.clearCookie(w)
	w.WriteHeader(http.StatusNoContent)
}

type meJSON struct {
	User      userJSON    `json:"user"`
	Roles     []string    `json:"roles"`
	Session   sessionJSON `json:"session"`
	CSRFToken string      `json:"csrf_token"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request, c caller) {
	u := toUserJSON(c.User)
	writeJSON(w, http.StatusOK, meJSON{
		User: u, Roles: u.Roles, Session: toSessionJSON(c.Session, c.Session.ID),
		CSRFToken: auth.CSRFToken(c.sessionToken),
	})
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
	if err := a.svc.RevokeSession(r.Context(), c.User.ID, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	if id == c.Session.ID {
		a.clearCookie(w)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) revokeOtherSessions(w http.ResponseWriter, r *http.Request, c caller) {
	n, err := a.svc.RevokeSessions(r.Context(), c.User.ID, c.Session.ID)
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
	u, err := a.svc.CreateUser(r.Context(), in.Email, in.Password, in.Roles)
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
		u, err = a.svc.SetRoles(r.Context(), id, *in.Roles)
	}
	if in.Disabled != nil && err == nil {
		u, err = a.svc.SetDisabled(r.Context(), id, *in.Disabled)
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
	n, err := a.svc.RevokeSessions(r.Context(), u.ID, "")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if u.ID == c.User.ID {
		a.clearCookie(w)
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// isUnauthenticated reports whether err means "no valid session".
func isUnauthenticated(err error) bool {
	var e *apperr.Error
	return errors.As(err, &e) && e.Code == apperr.Unauthenticated
}
