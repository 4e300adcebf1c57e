package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds the schema changes, one file per version, named
// NNNN_what.sql. A file is never edited once released: a change is a new
// file. Versions match the SQLite backend's, so "schema version 2" means
// the same records on either.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// Schema errors. Both are wrapped with the current and wanted versions.
var (
	// ErrSchemaNotMigrated means the database is behind this binary: run
	// Migrate (gatehouse migrate).
	ErrSchemaNotMigrated = errors.New("postgres: database schema is not migrated")
	// ErrSchemaTooNew means a newer gatehouse has migrated the database.
	// This binary refuses to touch it rather than misread columns it does
	// not know.
	ErrSchemaTooNew = errors.New("postgres: database schema is newer than this gatehouse")
)

// migrateLock is the key of the advisory lock Migrate takes, so that
// instances starting together apply each migration once, one after the
// other. It is one key for the whole database, whatever the schema:
// migrations are rare and short, and serialising those of unrelated
// schemas costs nothing. The bytes spell "gatehous".
const migrateLock int64 = 0x67617465686f7573

// migration is one embedded schema change.
type migration struct {
	version int
	name    string // file name, for schema_migrations and messages
	sql     string
}

// createMigrationsTable is not a migration itself: it is what records them.
// It lands in the first schema of the search_path, beside the tables.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL
)`

// loadMigrations reads and orders the migrations in fsys and checks that
// their versions run 1, 2, 3... without a gap, so that "the highest
// applied version" says exactly which ones ran.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %s: name must start with a version number and '_'", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	// Glob returns names sorted, and the zero-padded numbers sort as
	// numbers do; the check below catches a file that breaks that.
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migration %s: version %d, want %d (versions must run 1, 2, 3... without gaps or repeats)", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("postgres: no migrations embedded")
	}
	return ms, nil
}

// latest is the schema version this binary is written for.
func (s *Store) latest() int { return s.migrations[len(s.migrations)-1].version }

// SchemaVersion returns the database's schema version (0 for a database
// never migrated) and the version this binary wants.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	current, err = s.currentVersion(ctx, s.pool)
	if err != nil {
		return 0, 0, err
	}
	return current, s.latest(), nil
}

// currentVersion reads the highest applied version without creating
// anything, so that CheckSchema never writes. to_regclass looks the table
// up through the search_path, as every other statement of the store does.
func (s *Store) currentVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: read schema version of %s: %w", s.name, err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: read schema version of %s: %w", s.name, err)
	}
	return v, nil
}

// tooNew is ErrSchemaTooNew with the versions in the message.
func (s *Store) tooNew(current int) error {
	return fmt.Errorf("%w: %s is at schema version %d, this binary knows up to %d; upgrade gatehouse",
		ErrSchemaTooNew, s.name, current, s.latest())
}

// CheckSchema returns nil when the database schema is exactly the one
// this binary wants, ErrSchemaNotMigrated when it is behind and
// ErrSchemaTooNew when it is ahead. It writes nothing.
func (s *Store) CheckSchema(ctx context.Context) error {
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current > latest:
		return s.tooNew(current)
	case current < latest:
		return fmt.Errorf("%w: %s is at schema version %d, this binary wants %d; run gatehouse migrate",
			ErrSchemaNotMigrated, s.name, current, latest)
	}
	return nil
}

// Migrate applies the migrations the database lacks, each in its own
// transaction together with its row in schema_migrations, so a failure
// leaves the database at the last version that fully applied (PostgreSQL
// DDL is transactional). It returns ErrSchemaTooNew, changing nothing,
// when the database is ahead of this binary. Running it on an up-to-date
// database does nothing, and takes no lock.
//
// Several instances may run Migrate at once: each transaction first takes
// an advisory lock (migrateLock), then reads the version again, so every
// migration runs exactly once and the others find it done.
func (s *Store) Migrate(ctx context.Context) error {
	current, err := s.currentVersion(ctx, s.pool)
	if err != nil {
		return err
	}
	if current > s.latest() {
		return s.tooNew(current)
	}
	for _, m := range s.migrations[current:] {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration unless it has already run, under the advisory
// lock. The lock is a transaction lock, so it is released by the commit
// or rollback, and cannot outlive a connection that dies midway.
func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate %s to version %d: %w", s.name, m.version, err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("postgres: migrate %s: lock: %w", s.name, err)
	}
	// Under the lock, so that two first migrations do not race to create
	// it (CREATE TABLE IF NOT EXISTS is not safe against itself).
	if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("postgres: migrate %s: %w", s.name, err)
	}
	current, err := s.currentVersion(ctx, tx)
	if err != nil {
		return err
	}
	switch {
	case current > s.latest():
		return s.tooNew(current)
	case current >= m.version:
		return nil // another instance got there first
	case current != m.version-1:
		return fmt.Errorf("postgres: migrate %s to version %d: database is at version %d", s.name, m.version, current)
	}
	// Without arguments, pgx sends the file with the simple protocol, which
	// runs its several statements in this transaction.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("postgres: migrate %s: %s: %w", s.name, m.name, err)
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, ms(time.Now())); err != nil {
		return fmt.Errorf("postgres: migrate %s: record %s: %w", s.name, m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate %s: commit %s: %w", s.name, m.name, err)
	}
	return nil
}
