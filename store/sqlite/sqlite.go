// Package sqlite is gatehouse's embedded default store, on SQLite through
// the pure-Go modernc.org/sqlite driver so that gatehouse stays a single
// static binary.
//
// The database runs in WAL mode, so readers never wait for the writer, and
// every transaction begins IMMEDIATE, so a read-modify-write takes the
// write lock up front and waits on busy_timeout instead of failing with
// SQLITE_BUSY when it tries to upgrade. The session writes of the
// refresh path are group-committed, many callers to one transaction and
// one fsync (batch.go). Times are INTEGER unix milliseconds, UTC.
//
// Open does not change the schema: run Migrate (gatehouse migrate) first,
// and check with CheckSchema at start-up.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/store"
)

var _ store.Store = (*Store)(nil)

// busyTimeout is how long a writer waits for another to finish before
// giving up with SQLITE_BUSY. Writes are short; waiting this long means
// something is stuck.
const busyTimeout = 5 * time.Second

// Store is a store.Store on one SQLite database file.
type Store struct {
	db         *sql.DB
	path       string
	migrations []migration
	// The statements every authenticated request runs, prepared once
	// (lazily, see prepare) rather than parsed on every call.
	byTokenHash *lazyStmt
	sessionByID *lazyStmt
	userByID    *lazyStmt
	touch       *lazyStmt
	update      *lazyStmt // UpdateSession's write
	// writes queues the group-commit session writes (batch.go).
	writes writeQueue
}

// Open opens (creating if needed) the database file at path, a file-system
// path rather than a URI. It checks that the file is usable and in WAL
// mode, but neither creates nor checks the schema; see Migrate and
// CheckSchema.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	migrations, err := loadMigrations(migrationFS)
	if err != nil {
		return nil, err
	}
	dsn, err := dataSourceName(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// A bounded pool: waiting for a connection in Go honours the context,
	// while a crowd of connections would only queue on SQLite's lock and
	// each hold its own page cache. Idle connections are kept, because a
	// new one re-runs every PRAGMA.
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)

	s := &Store{
		db:          db,
		path:        path,
		migrations:  migrations,
		byTokenHash: &lazyStmt{query: selectSession + " WHERE token_hash = ?"},
		sessionByID: &lazyStmt{query: selectSession + " WHERE id = ?"},
		userByID:    &lazyStmt{query: selectUser + " WHERE id = ?"},
		touch:       &lazyStmt{query: touchSession},
		update:      &lazyStmt{query: updateSession},
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		// WAL cannot be had on some file systems (network shares); say so
		// rather than run with readers blocking writers.
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal_mode is %q, not wal; is the file on a local file system?", path, mode)
	}
	return s, nil
}

// dataSourceName turns a file path into a SQLite URI carrying the
// connection settings. A URI rather than a bare path, because the driver
// would take a '?' inside the path for the start of its parameters; in a
// URI the path is percent-encoded.
func dataSourceName(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	q := url.Values{}
	// Applied in this order on every new connection. busy_timeout comes
	// first so that switching to WAL waits for a lock like anything else.
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL, not the NORMAL often paired with WAL: with NORMAL a power cut
	// can roll back the last commits, and a rolled-back logout or password
	// change is a session that comes back to life.
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String(), nil
}

// Ping checks that the database file can still be reached.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", s.path, err)
	}
	return nil
}

// Close closes every connection; the last one to close checkpoints the WAL
// into the main file.
func (s *Store) Close() error {
	return errors.Join(s.byTokenHash.close(), s.sessionByID.close(), s.userByID.close(), s.touch.close(), s.update.close(), s.db.Close())
}

// lazyStmt is a statement prepared on first use. Not at Open, because the
// tables it names do not exist until Migrate has run, and a failed prepare
// is retried on the next call so that a store opened before migrating
// still works afterwards.
type lazyStmt struct {
	query string
	mu    sync.Mutex
	stmt  *sql.Stmt
}

// get returns the prepared statement, preparing it if needed.
func (l *lazyStmt) get(ctx context.Context, db *sql.DB) (*sql.Stmt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stmt == nil {
		st, err := db.PrepareContext(ctx, l.query)
		if err != nil {
			return nil, err
		}
		l.stmt = st
	}
	return l.stmt, nil
}

// in returns the prepared statement for use inside tx.
func (l *lazyStmt) in(ctx context.Context, db *sql.DB, tx *sql.Tx) (*sql.Stmt, error) {
	st, err := l.get(ctx, db)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

func (l *lazyStmt) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stmt == nil {
		return nil
	}
	return l.stmt.Close()
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *msqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure. It reads the driver's result code, since message
// texts change between SQLite versions.
func isUniqueViolation(err error) bool {
	switch sqliteCode(err) {
	case sqlitelib.SQLITE_CONSTRAINT_UNIQUE, sqlitelib.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// isForeignKeyViolation reports whether err is a FOREIGN KEY constraint
// failure.
func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlitelib.SQLITE_CONSTRAINT_FOREIGNKEY
}

// millis is how a time is stored. UnixMilli floors, so a deadline stored
// this way is reached exactly when the unfloored one is.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the inverse of millis, in UTC as the store contract says.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// normTime is t as it reads back after a round trip through the database.
func normTime(t time.Time) time.Time { return fromMillis(millis(t)) }

// normRoles returns roles as they are stored: sorted, without duplicates,
// in a new slice.
func normRoles(roles []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(roles)))
	if len(out) == 0 {
		return nil
	}
	return out
}

// rollback ends a transaction that did not commit. Its error is dropped:
// the caller already returns the error that made it roll back, and after a
// commit it is sql.ErrTxDone.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
