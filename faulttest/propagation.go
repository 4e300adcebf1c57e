package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Probe is how MeasurePropagation asks another instance whether it still
// takes a signed-out token.
type Probe string

const (
	// ProbeIntrospect polls POST /v1/introspect (as an admin) for the
	// token: the answer comes from the instance's in-memory revocation
	// list alone (signature, claims, list; no store lookup for the token),
	// so it turns to "active": false exactly when the revocation has
	// reached that instance. This is what the figures mean.
	ProbeIntrospect Probe = "introspect"
	// ProbeMe polls GET /v1/me with the token. gatehouse's own endpoints
	// also need the session, which each instance answers from its session
	// cache until the revocation reaches it: the same feed, seen through
	// the cache.
	ProbeMe Probe = "me"
)

// PropagationConfig is one propagation measurement: sign in and sign out
// through Origin, Logouts times, and time how long each other instance
// keeps taking the signed-out access token.
type PropagationConfig struct {
	Origin string   // instance A: sign-in and sign-out
	Others []string // instances B, C, …: polled until they refuse
	// Email and Password of an existing account; every iteration signs it
	// in anew (token mode) through Origin.
	Email, Password string
	// AdminToken is an access token with the tokens:introspect permission
	// (the admin role), valid on every instance; ProbeIntrospect needs it.
	AdminToken string
	Logouts    int
	Probe      Probe         // default ProbeIntrospect
	Timeout    time.Duration // per logout; default 5s
	Warmup     int           // untimed iterations first; default 5
	// PollEvery spaces the polls of one instance (0: back to back, the
	// finest resolution but the most load on the instance polled).
	PollEvery time.Duration
	Client    *Client
	// Progress, if set, is called after each timed logout.
	Progress func(done int)
}

// PropagationResult holds the delays, from the moment the logout's 204
// reached the client to the moment the first refusing answer from each
// other instance did. That is an upper bound: the revocation arrived
// somewhere within the last poll's round trip (see PollRTT).
type PropagationResult struct {
	Per     map[string][]time.Duration // by other instance
	All     []time.Duration            // per logout, the slowest other instance
	PollRTT []time.Duration            // round trips of the polls: the resolution
	// Lost counts logouts some instance still took after Timeout.
	Lost int
	// FirstPoll counts the (logout, instance) pairs whose very first poll,
	// sent once A's 204 had arrived, was already refused — the revocation
	// was there before the client could act on the logout — out of Pairs.
	FirstPoll, Pairs int
}

// MeasurePropagation runs the measurement. It stops early, with what it
// has, when ctx ends.
func MeasurePropagation(ctx context.Context, cfg PropagationConfig) (PropagationResult, error) {
	if cfg.Probe == "" {
		cfg.Probe = ProbeIntrospect
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 5
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(5 * time.Second)
	}
	if cfg.Probe == ProbeIntrospect && cfg.AdminToken == "" {
		return PropagationResult{}, errors.New("propagation: introspection needs an admin access token")
	}
	res := PropagationResult{Per: map[string][]time.Duration{}}
	var mu sync.Mutex
	for i := -cfg.Warmup; i < cfg.Logouts && ctx.Err() == nil; i++ {
		tk, err := cfg.Client.LoginTokens(ctx, cfg.Origin, cfg.Email, cfg.Password)
		if err != nil {
			return res, err
		}
		// The token must be good everywhere first, or a refusal would
		// mean nothing.
		for _, o := range cfg.Others {
			if refused, r := probe(ctx, cfg, o, tk.Access); refused {
				return res, fmt.Errorf("propagation: a fresh token is refused by %s before any logout: %s", o, r)
			}
		}
		lr := cfg.Client.LogoutBearer(ctx, cfg.Origin, tk.Access)
		if lr.Status != http.StatusNoContent {
			return res, fmt.Errorf("propagation: logout on %s: %s", cfg.Origin, lr)
		}
		t0 := lr.Received
		delays := make([]time.Duration, len(cfg.Others))
		first := 0
		var rtts []time.Duration
		lost := false
		var wg sync.WaitGroup
		for j, o := range cfg.Others {
			wg.Go(func() {
				for n := 1; ; n++ {
					refused, r := probe(ctx, cfg, o, tk.Access)
					gaveUp := !refused && time.Since(t0) > cfg.Timeout
					mu.Lock()
					rtts = append(rtts, r.Received.Sub(r.Sent))
					if refused {
						delays[j] = r.Received.Sub(t0)
						if n == 1 {
							first++
						}
					}
					lost = lost || gaveUp
					mu.Unlock()
					if refused || gaveUp || ctx.Err() != nil {
						return
					}
					if cfg.PollEvery > 0 {
						time.Sleep(cfg.PollEvery)
					}
				}
			})
		}
		wg.Wait()
		if i < 0 {
			continue // warm-up
		}
		res.PollRTT = append(res.PollRTT, rtts...)
		if lost {
			res.Lost++
			continue
		}
		for j, o := range cfg.Others {
			res.Per[o] = append(res.Per[o], delays[j])
		}
		res.All = append(res.All, slices.Max(delays))
		res.FirstPoll += first
		res.Pairs += len(cfg.Others)
		if cfg.Progress != nil {
			cfg.Progress(i + 1)
		}
	}
	return res, ctx.Err()
}

// probe reports whether instance o refuses the access token tok.
func probe(ctx context.Context, cfg PropagationConfig, o, tok string) (bool, Response) {
	if cfg.Probe == ProbeMe {
		r := cfg.Client.Me(ctx, o, Bearer(tok))
		return r.Status == http.StatusUnauthorized, r
	}
	active, ok, r := cfg.Client.Introspect(ctx, o, cfg.AdminToken, tok)
	return ok && !active, r
}

// Percentile returns the q-quantile (0 < q <= 1) of ds by the
// nearest-rank method; ds need not be sorted. Zero for no data.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}
