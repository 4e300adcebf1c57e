// Package postgres is gatehouse's PostgreSQL store, on a pgx connection
// pool, for deployments that run several gatehouse instances against one
// database.
//
// Read-modify-writes (UpdateUser, UpdateSession) lock the row with SELECT
// ... FOR UPDATE inside a READ COMMITTED transaction, so concurrent
// updates of one record queue and each sees the result of the one before.
// Revocations are pushed to every instance with LISTEN/NOTIFY (see
// WatchRevocations). Times are timestamptz, written truncated to the
// millisecond and read back in UTC.
//
// The URL is a libpq-style postgres:// URL or keyword/value string. A
// search_path=NAME parameter keeps gatehouse's tables in their own schema
// (the schema must exist), and pool_max_conns and the other pgxpool
// parameters size the pool.
//
// Open does not change the schema: run Migrate (gatehouse migrate) first,
// and check with CheckSchema at start-up.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/store"
)

var (
	_ store.Store             = (*Store)(nil)
	_ store.RevocationWatcher = (*Store)(nil)
	_ store.RoleStore         = (*Store)(nil)
)

// watchPing is how long WatchRevocations waits for a notification before
// it checks, with a ping, that its connection still works. A LISTENing
// connection otherwise only reads, and a read never notices a server or
// network that has silently gone away; the ping bounds how long the feed
// can be dead without its caller knowing.
const (
	watchPing        = 30 * time.Second
	watchPingTimeout = 10 * time.Second
)

// Store is a store.Store on one PostgreSQL database (and schema).
type Store struct {
	pool       *pgxpool.Pool
	name       string // the database and schema, for messages; never the password
	migrations []migration
	// channel is the NOTIFY channel of this schema's revocations, resolved
	// on first use (see revocationChannel).
	channel atomic.Pointer[string]
	// closing is cancelled by Close, which ends every WatchRevocations: the
	// connections they hold are outside the pool.
	closing     context.Context
	stopClosing context.CancelFunc
	// pingEvery and pingTimeout are watchPing and watchPingTimeout, fields
	// so that tests can shorten them.
	pingEvery, pingTimeout time.Duration
}

// Open connects to the database at url and checks that it answers. It
// neither creates nor checks the schema; see Migrate and CheckSchema.
func Open(ctx context.Context, url string) (*Store, error) {
	if url == "" {
		return nil, errors.New("postgres: open: empty database URL")
	}
	migrations, err := loadMigrations(migrationFS)
	if err != nil {
		return nil, err
	}
	// ParseConfig's errors redact the password.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	rt := cfg.ConnConfig.RuntimeParams
	if rt["application_name"] == "" {
		rt["application_name"] = "gatehouse" // what pg_stat_activity shows
	}
	name := fmt.Sprintf("database %q", cfg.ConnConfig.Database)
	if sp := rt["search_path"]; sp != "" {
		name += fmt.Sprintf(" (search_path %q)", sp)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", name, err)
	}
	// The pool connects lazily; a ping makes a wrong host or password an
	// error of Open rather than of the first request.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", name, err)
	}
	closing, stop := context.WithCancel(context.Background())
	return &Store{
		pool:        pool,
		name:        name,
		migrations:  migrations,
		closing:     closing,
		stopClosing: stop,
		pingEvery:   watchPing,
		pingTimeout: watchPingTimeout,
	}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping %s: %w", s.name, err)
	}
	return nil
}

// Close ends every WatchRevocations and closes the pool, waiting for
// connections in use to be released.
func (s *Store) Close() error {
	s.stopClosing()
	s.pool.Close()
	return nil
}

// querier is what the pool, a transaction and a connection all offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ querier = (*pgxpool.Pool)(nil)
	_ querier = pgx.Tx(nil)
	_ querier = (*pgx.Conn)(nil)
)

// SQLSTATE codes the store maps to its sentinel errors.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	lockNotAvailable     = "55P03" // lock_timeout, if the operator sets one
)

// pgCode returns the SQLSTATE of a PostgreSQL error, or "". It reads the
// code rather than the message, which is translated and changes between
// versions.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// wrap prefixes err with the operation, what, and adds the store sentinel
// the error stands for: ErrAlreadyExists for a unique violation,
// ErrConflict for a serialization failure, a deadlock or a lock timeout
// (the transaction lost to a concurrent one and the caller may retry).
//
// Not for errors that may carry a token hash: a unique violation's
// DETAIL quotes the key (see sessionExists).
func wrap(what string, err error) error {
	switch pgCode(err) {
	case uniqueViolation:
		return fmt.Errorf("postgres: %s: %w: %w", what, store.ErrAlreadyExists, err)
	case serializationFailure, deadlockDetected, lockNotAvailable:
		return fmt.Errorf("postgres: %s: %w: %w", what, store.ErrConflict, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// rollback ends a transaction that did not commit. Its error is dropped:
// the caller already returns the error that made it roll back, and after a
// commit it is pgx.ErrTxClosed. If the rollback itself fails (ctx is
// done, say), pgx closes the connection rather than return it to the pool
// mid-transaction.
func rollback(ctx context.Context, tx pgx.Tx) { _ = tx.Rollback(ctx) }

// ms is how a time is stored: truncated to the millisecond (UnixMilli
// floors, so a deadline stored this way is reached exactly when the
// unfloored one is) and in UTC, which is also how it reads back.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// normRoles returns roles as they are stored: sorted, without duplicates,
// in a new slice.
func normRoles(roles []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(roles)))
	if len(out) == 0 {
		return nil
	}
	return out
}
