package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/store"
)

// watch is one WatchRevocations in progress.
type watch struct {
	cancel context.CancelCauseFunc
}

// revocationJSON is how an entry is stored, after its "seq:" prefix.
// Times are Unix milliseconds; NotBefore is left out when zero.
type revocationJSON struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	NotBefore *int64 `json:"nbf,omitempty"`
	ExpiresAt int64  `json:"exp"`
	CreatedAt int64  `json:"iat"`
}

func (h *Hot) revKeys() []string {
	return []string{h.prefix + "rev:seq", h.prefix + "rev", h.prefix + "rev:exp"}
}

func (h *Hot) revChannel() string { return h.prefix + "rev:chan" }

// AddRevocations implements store.Revocations. One script assigns the
// Seqs (one INCRBY), adds the entries and publishes on the channel, so
// the batch becomes visible at once and in Seq order relative to every
// other batch.
func (h *Hot) AddRevocations(ctx context.Context, rs []store.Revocation) ([]store.Revocation, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out := make([]store.Revocation, len(rs))
	args := make([]string, 0, 1+2*len(rs))
	args = append(args, h.revChannel())
	for i, r := range rs {
		r.NotBefore, r.ExpiresAt, r.CreatedAt = fromMillis(millis(r.NotBefore)), fromMillis(millis(r.ExpiresAt)), fromMillis(millis(r.CreatedAt))
		enc := revocationJSON{Kind: r.Kind, Key: r.Key, ExpiresAt: millis(r.ExpiresAt), CreatedAt: millis(r.CreatedAt)}
		if rs[i].NotBefore.IsZero() {
			r.NotBefore = time.Time{}
		} else {
			nb := millis(r.NotBefore)
			enc.NotBefore = &nb
		}
		b, err := json.Marshal(enc)
		if err != nil {
			return nil, fmt.Errorf("redis: add revocations: %w", err)
		}
		args = append(args, string(b), strconv.FormatInt(enc.ExpiresAt, 10))
		out[i] = r
	}
	last, err := addRevocationsScript.Exec(ctx, h.client, h.revKeys(), args).AsInt64()
	if err != nil {
		return nil, redisErr("add revocations", err)
	}
	for i := range out {
		out[i].Seq = last - int64(len(out)-1-i)
	}
	return out, nil
}

// RevocationsSince implements store.Revocations. An entry whose ExpiresAt
// equals now has expired.
func (h *Hot) RevocationsSince(ctx context.Context, after int64, now time.Time) ([]store.Revocation, error) {
	key := h.prefix + "rev"
	cmd := h.client.B().Zrangebyscore().Key(key).Min("(" + strconv.FormatInt(after, 10)).Max("+inf").Build()
	members, err := h.client.Do(ctx, cmd).AsStrSlice()
	if err != nil {
		return nil, redisErr("revocations since", err)
	}
	nowMs := millis(now)
	var out []store.Revocation
	for _, m := range members {
		r, err := decodeRevocation(m)
		if err != nil {
			return nil, redisErr("revocations since", err)
		}
		if millis(r.ExpiresAt) > nowMs {
			out = append(out, r)
		}
	}
	return out, nil
}

// decodeRevocation reads a member of {p}rev: "seq:json".
func decodeRevocation(m string) (store.Revocation, error) {
	seqText, body, ok := strings.Cut(m, ":")
	if !ok {
		return store.Revocation{}, fmt.Errorf("malformed revocation %q", m)
	}
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if err != nil {
		return store.Revocation{}, fmt.Errorf("malformed revocation %q: %w", m, err)
	}
	var enc revocationJSON
	if err := json.Unmarshal([]byte(body), &enc); err != nil {
		return store.Revocation{}, fmt.Errorf("malformed revocation %q: %w", m, err)
	}
	r := store.Revocation{
		Seq:       seq,
		Kind:      enc.Kind,
		Key:       enc.Key,
		ExpiresAt: fromMillis(enc.ExpiresAt),
		CreatedAt: fromMillis(enc.CreatedAt),
	}
	if enc.NotBefore != nil {
		r.NotBefore = fromMillis(*enc.NotBefore)
	}
	return r, nil
}

// DeleteExpiredRevocations implements store.Revocations, in batches, each
// one atomic. The Seq counter stays, so Seqs are never reused.
func (h *Hot) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	keys := h.revKeys()[1:]
	total := 0
	for {
		args := []string{strconv.FormatInt(millis(now), 10), strconv.Itoa(expiredBatch)}
		n, err := deleteRevocationsScript.Exec(ctx, h.client, keys, args).AsInt64()
		if err != nil {
			return total, redisErr("delete expired revocations", err)
		}
		total += int(n)
		if n < expiredBatch {
			return total, nil
		}
	}
}

// WatchRevocations implements store.RevocationWatcher with pub/sub on a
// connection of its own: AddRevocations publishes after every batch. It
// calls notify once subscribed (entries added before then are the
// caller's to fetch) and after every message, and returns when ctx ends
// (ctx's error), the store is closed, or the connection fails (the
// connection's error). It never
// resubscribes by itself, so the caller always learns of a gap and
// resynchronises.
//
// notify runs on a goroutine of WatchRevocations, never two at once;
// notifications that arrive while it runs are merged into one call after
// it, so a slow notify never stalls the connection.
func (h *Hot) WatchRevocations(ctx context.Context, notify func()) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &watch{cancel: cancel}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return redisErr("watch revocations", errClosed)
	}
	h.watches[w] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.watches, w)
		h.mu.Unlock()
	}()

	// A dedicated connection is not retried by the client when it drops;
	// the shared one would silently resubscribe.
	dc, release := h.client.Dedicate()
	defer release()
	if h.watchHook != nil {
		id, err := dc.Do(ctx, dc.B().ClientId().Build()).AsInt64()
		if err != nil {
			return redisErr("watch revocations", err)
		}
		h.watchHook(id)
	}

	pending := make(chan struct{}, 1)
	poke := func() {
		select {
		case pending <- struct{}{}:
		default: // a call is already due; it covers this one
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-pending:
				notify()
			case <-stop:
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stop)

	// The hook runs on the client's reader goroutine, which must not
	// block: it only pokes.
	sctx := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		if s.Kind == "subscribe" {
			poke()
		}
	})
	err := dc.Receive(sctx, dc.B().Subscribe().Channel(h.revChannel()).Build(), func(rueidis.PubSubMessage) { poke() })
	if cause := context.Cause(ctx); errors.Is(cause, errClosed) {
		err = cause
	}
	if err == nil {
		// Only an UNSUBSCRIBE ends a subscription cleanly, and nothing
		// here sends one; report it rather than return nil.
		err = fmt.Errorf("unsubscribed from %s", h.revChannel())
	}
	return redisErr("watch revocations", err)
}
