// Package redis keeps gatehouse's hot, expiring data in Redis: sessions
// (with their refresh-token state) and the revocation list. Durable data
// (users, roles, keys, audit) stays in SQL; package combined joins the two
// into one store.Store.
//
// # Client
//
// It talks to Redis through github.com/redis/rueidis rather than
// github.com/redis/go-redis/v9, for speed under concurrency: rueidis
// pipelines the commands of concurrent callers onto shared connections
// (auto-pipelining), where go-redis takes one pooled connection per
// command in flight. Every authenticated request looks a session up, so
// that is the load that matters. Measured on the development machine
// (Redis 7 on loopback, 2 CPUs), HGETALL of a 14-field session hash:
//
//	                 1 goroutine          32 goroutines
//	rueidis v1.0.79  54-69 µs/op          15-16 µs/op (about 2.3x)
//	go-redis v9.23   39-102 µs/op         36-65 µs/op
//
// One caller alone is bound by the round trip either way; with many
// callers rueidis serves over twice the lookups per second. Its Lua helper
// also allocates less per script call (1 allocation against 12). Its
// server-assisted client-side cache is not used (the client is opened with
// DisableCache): a session read from a local cache could outlive a logout
// on another instance until the invalidation arrives, and access tokens
// already verify without a round trip.
//
// # Layout
//
// Every key starts with Options.Prefix ({p} below):
//
//	{p}s:{id}         hash: one session, all fields, and a version v
//	{p}t:{hex}        string: session ID by the hex SHA-256 of its token
//	{p}u:{userID}     sorted set: the user's session IDs by created_at (ms)
//	{p}exp            sorted set: every session ID by the time it dies (ms)
//	{p}rev            sorted set: revocations as "seq:json", scored by seq
//	{p}rev:exp        sorted set: revocation seqs by expires_at (ms)
//	{p}rev:seq        counter: the last revocation seq handed out
//	{p}rev:chan       pub/sub channel: a message after every addition
//
// Every write is one Lua script, so each is atomic and costs one round
// trip. Scripts derive the keys they touch from the prefix, so under Redis
// Cluster the prefix must hold a hash tag (say "{gatehouse}:") to put every
// key in one slot. Redis 7.0 or later is required (PEXPIREAT ... GT,
// EVALSHA_RO).
//
// # Expiry
//
// The store contract has callers check expiry with their own clock and
// collect garbage with DeleteExpiredSessions(now). Here Redis expiry is
// only the collector of last resort: each session's keys expire at the
// time the session dies (the earlier of IdleExpiresAt and ExpiresAt) plus
// ttlGrace, by Redis's clock; a session dead by then gets no TTL at all,
// so that sessions written with a fake clock (the conformance suite uses
// 1990) stay until DeleteExpiredSessions removes them. The {p}exp index
// is what DeleteExpiredSessions reads, so it is exact at any now. Run it
// now and then, as the server's GC loop does: it also sweeps index entries
// of sessions that Redis expiry has already dropped.
package redis

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/gatehouse/gatehouse/store"
)

var (
	_ store.Sessions          = (*Hot)(nil)
	_ store.Revocations       = (*Hot)(nil)
	_ store.RevocationWatcher = (*Hot)(nil)
)

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "gatehouse:"

// ttlGrace is how long after a session dies (by the deadlines stored in
// it) Redis keeps its keys. Lookups do not check expiry, the caller does;
// the grace only keeps clock skew between the servers and Redis from
// dropping a session a moment early.
const ttlGrace = time.Minute

// Options configures Open.
type Options struct {
	// Prefix starts every key and channel name, so that several
	// deployments (or tests) can share one Redis database. Default
	// DefaultPrefix.
	Prefix string
}

// Hot is the Redis store of sessions and revocations. It is safe for
// concurrent use.
type Hot struct {
	client rueidis.Client
	prefix string

	// mu guards closed and watches: Close ends every WatchRevocations,
	// whose dedicated connections the client would otherwise keep open.
	mu      sync.Mutex
	closed  bool
	watches map[*watch]struct{}

	// watchHook, set by tests only, is given the Redis client ID of each
	// WatchRevocations connection.
	watchHook func(clientID int64)
}

// Open connects to the Redis server at url (redis://[user:password@]host:port/db,
// rediss:// for TLS, as rueidis.ParseURL reads it) and checks that it
// answers.
func Open(ctx context.Context, url string, opts Options) (*Hot, error) {
	copt, err := rueidis.ParseURL(url)
	if err != nil {
		// A *url.Error quotes the URL, password and all: keep its cause.
		if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis: open: bad URL: %w", err)
	}
	copt.DisableCache = true
	// Fail fast when Redis is down: a request must get its 503 in a second
	// or two, not hang until the client gives up. Retrying is the client's
	// (or the feed's) business, with the answer in hand.
	copt.Dialer.Timeout = time.Second
	copt.ConnWriteTimeout = 2 * time.Second
	copt.DisableRetry = true
	client, err := rueidis.NewClient(copt)
	if err != nil {
		return nil, fmt.Errorf("redis: open %s: %w", copt.InitAddress, err)
	}
	h := &Hot{client: client, prefix: opts.Prefix, watches: make(map[*watch]struct{})}
	if h.prefix == "" {
		h.prefix = DefaultPrefix
	}
	if err := h.Ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis: open %s: %w", copt.InitAddress, err)
	}
	return h, nil
}

// Client returns the underlying client, so that other Redis-backed parts
// (the login throttle) share its connections. Closing Hot closes it.
func (h *Hot) Client() rueidis.Client { return h.client }

// Prefix returns the key prefix in use.
func (h *Hot) Prefix() string { return h.prefix }

// Ping checks that Redis answers.
func (h *Hot) Ping(ctx context.Context) error {
	if err := h.client.Do(ctx, h.client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close ends every WatchRevocations and closes the connections, waiting
// for commands in flight. Calls after the first do nothing.
func (h *Hot) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for w := range h.watches {
		w.cancel(errClosed)
	}
	h.mu.Unlock()
	h.client.Close()
	return nil
}

// errClosed ends the watches of a closed Hot.
var errClosed = errors.New("store closed")

// redisErr wraps an error from the client with what was being done.
// Errors of the context come back as they are, wrapped, so callers can
// test them with errors.Is.
func redisErr(what string, err error) error {
	return fmt.Errorf("redis: %s: %w", what, err)
}

// isNil reports whether err is Redis's nil reply.
func isNil(err error) bool { return rueidis.IsRedisNil(err) }

// millis is how times are stored: Unix milliseconds, rounded down.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the inverse of millis, in UTC as the store contract says.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
