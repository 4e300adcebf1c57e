package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// feedAnswer is the body of GET /v1/revocations.
type feedAnswer struct {
	Seq     int64 `json:"seq"`
	Entries []struct {
		Seq       int64     `json:"seq"`
		Kind      string    `json:"kind"`
		Key       string    `json:"key"`
		NotBefore time.Time `json:"not_before"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"entries"`
}

// syncFeed asks the feed for what is new since the last answer, waiting up
// to wait for something to happen, applies it and marks the list synced.
// It reports how many entries arrived. An answer the middleware does not
// fully understand (an unknown kind of entry) is refused whole: applying
// part of it could let a revoked token through, and refusing lets the list
// go stale, which fails closed.
func (m *Middleware) syncFeed(ctx context.Context, wait time.Duration) (int, error) {
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, wait+m.cfg.RequestTimeout+defaultFeedGrace)
	defer cancel()
	q := url.Values{"after": {strconv.FormatInt(m.seq, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.cfg.FeedURL+"?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+m.cfg.FeedToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	res, err := m.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("revocation feed: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		hint := ""
		switch res.StatusCode {
		case http.StatusUnauthorized:
			hint = " (wrong FeedToken?)"
		case http.StatusNotFound:
			hint = " (is --revocation-feed-token set on gatehouse?)"
		}
		return 0, fmt.Errorf("revocation feed %s: status %d%s", m.cfg.FeedURL, res.StatusCode, hint)
	}
	data, err := readLimited(res.Body, maxFeedBytes)
	if err != nil {
		return 0, fmt.Errorf("revocation feed: %w", err)
	}
	var ans feedAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return 0, fmt.Errorf("revocation feed: bad answer: %w", err)
	}
	rs := make([]store.Revocation, 0, len(ans.Entries))
	for _, e := range ans.Entries {
		switch e.Kind {
		case store.RevokeSession, store.RevokeToken, store.RevokeUser:
		default:
			return 0, fmt.Errorf("revocation feed: unknown entry kind %q (is this middleware older than gatehouse?)", e.Kind)
		}
		rs = append(rs, store.Revocation{Seq: e.Seq, Kind: e.Kind, Key: e.Key, NotBefore: e.NotBefore, ExpiresAt: e.ExpiresAt})
	}
	now := m.cfg.Now()
	m.revs.Apply(now, rs)
	if ans.Seq > m.seq {
		m.seq = ans.Seq
	}
	m.syncedAt.Store(now.UnixNano())
	return len(rs), nil
}

// followFeed long-polls the feed until ctx ends. Errors back off
// exponentially from 250ms to 10s (with jitter); empty answers are at
// least a second apart, so a server that ignores wait cannot make it spin.
func (m *Middleware) followFeed(ctx context.Context) {
	wait := m.cfg.feedWait()
	backoff := time.Duration(0)
	prune := time.NewTicker(revocationPruneInterval)
	defer prune.Stop()
	for ctx.Err() == nil {
		select {
		case <-prune.C:
			m.revs.Prune(m.cfg.Now())
		default:
		}
		start := time.Now()
		n, err := m.syncFeed(ctx, wait)
		pause := time.Duration(0)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, firstFeedBackoff), maxFeedBackoff)
			pause = backoff/2 + rand.N(backoff/2+1)
			m.cfg.Logger.WarnContext(ctx, "gatehouse revocation feed failed; retrying", "err", err, "retry_in", pause)
		case n == 0:
			backoff = 0
			pause = minEmptyPollInterval - time.Since(start)
		default:
			backoff = 0
		}
		if pause > 0 {
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}
