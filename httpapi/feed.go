package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/apperr"
	"github.com/gatehouse/gatehouse/store"
)

// maxFeedWait bounds a long poll of the revocation feed.
const maxFeedWait = 30 * time.Second

// feedEntry is a revocation as the HTTP feed sends it.
type feedEntry struct {
	Seq       int64     `json:"seq"`
	Kind      string    `json:"kind"`
	Key       string    `json:"key"`
	NotBefore time.Time `json:"not_before,omitzero"`
	ExpiresAt time.Time `json:"expires_at"`
}

// revocationFeed serves the revocation list to remote verifiers (the Go
// middleware): GET /v1/revocations?after=SEQ[&wait=25s]. With wait it
// long-polls: it answers as soon as there is something newer than after,
// or when the wait ends. It needs the feed token (--revocation-feed-token)
// as a bearer token; without one configured the feed is off.
func (a *API) revocationFeed(w http.ResponseWriter, r *http.Request) {
	if a.cfg.FeedToken == "" || a.cfg.Revocations == nil {
		a.notFoundProblem(w, r)
		return
	}
	tok, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.FeedToken)) != 1 {
		a.writeError(w, r, apperr.New(apperr.Unauthenticated, "The revocation feed needs the feed token as a bearer token."))
		return
	}
	q := r.URL.Query()
	after, err := strconv.ParseInt(q.Get("after"), 10, 64)
	if q.Get("after") == "" {
		after, err = 0, nil
	}
	if err != nil || after < 0 {
		a.writeError(w, r, apperr.New(apperr.Invalid, "Query parameter after must be a sequence number (0 or more)."))
		return
	}
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		wait, err = time.ParseDuration(v)
		if err != nil || wait < 0 || wait > maxFeedWait {
			a.writeError(w, r, apperr.New(apperr.Invalid, "Query parameter wait must be a duration up to 30s, like 25s."))
			return
		}
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		changed := a.cfg.Revocations.Changed()
		entries, err := a.svc.RevocationsSince(r.Context(), after)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if len(entries) > 0 || wait == 0 {
			out := make([]feedEntry, 0, len(entries))
			last := after
			for _, e := range entries {
				last = max(last, e.Seq)
				if store.IsInvalidation(e.Kind) {
					continue // gatehouse's own cache upkeep, nothing to refuse
				}
				out = append(out, feedEntry{Seq: e.Seq, Kind: e.Kind, Key: e.Key, NotBefore: e.NotBefore, ExpiresAt: e.ExpiresAt})
			}
			writeJSON(w, http.StatusOK, map[string]any{"seq": last, "entries": out})
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}
