// Package middleware is what a Go web app or API imports to use a remote
// gatehouse: net/http middleware that authenticates callers and checks
// their roles and permissions.
//
// Two kinds of callers are accepted:
//
//   - API clients send an access token as "Authorization: Bearer …". It is
//     verified locally, at crypto speed: the signature against gatehouse's
//     published keys (JWKS, fetched and cached; refetched when a token names
//     an unknown key), the claims (iss, aud, exp, …), and an in-memory
//     revocation list that gatehouse pushes over its long-poll feed
//     (GET /v1/revocations). A logout on gatehouse takes effect here within
//     one long-poll round, without a network call per request.
//   - Browsers send gatehouse's session cookie. That is an opaque secret
//     only gatehouse can resolve, so the middleware asks gatehouse
//     (GET /v1/me, then POST /v1/session/token for a short access token
//     whose scope carries the permissions), caches the answer for a few
//     seconds under the SHA-256 of the cookie, and re-checks the cached
//     answer against the revocation list on every request. Cookie requests
//     with unsafe methods must also pass a same-origin check (CSRF).
//
// The verified caller is put in the request context (UserFrom). Refusals
// are RFC 9457 problem documents like gatehouse's own: 401 (with
// WWW-Authenticate) when the caller is not signed in, 403 when signed in
// but not allowed, 503 when the revocation list is stale — the middleware
// fails closed when it has not heard from gatehouse for MaxStale.
//
// Permission checks go through authz.Granted, the function gatehouse
// itself uses, so the app, the forward-auth endpoint and gatehouse's API
// cannot disagree about what "notes:*" covers.
//
// A Middleware does no background work until Run is called:
//
//	m, err := middleware.New(ctx, middleware.Config{
//		Issuer:    "https://auth.example.com",
//		Audience:  "gatehouse",
//		FeedToken: os.Getenv("GATEHOUSE_FEED_TOKEN"),
//	})
//	if err != nil { … }
//	defer m.Close()
//	go m.Run(ctx)
//	mux.Handle("GET /notes", m.RequirePermission("notes:read")(listNotes))
package middleware
