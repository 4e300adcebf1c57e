package sqlite

import (
	"context"
	"database/sql"
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
// file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// Schema errors. Both are wrapped with the current and wanted versions.
var (
	// ErrSchemaNotMigrated means the database is behind this binary: run
	// Migrate (gatehouse migrate).
	ErrSchemaNotMigrated = errors.New("sqlite: database schema is not migrated")
	// ErrSchemaTooNew means a newer gatehouse has migrated the database.
	// This binary refuses to touch it rather than misread columns it does
	// not know.
	ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this gatehouse")
)

// migration is one embedded schema change.
type migration struct {
	version int
	name    string // file name, for schema_migrations and messages
	sql     string
}

// createMigrationsTable is not a migration itself: it is what records them.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// loadMigrations reads and orders the migrations in fsys and checks that
// their versions run 1, 2, 3... without a gap, so that "the highest
// applied version" says exactly which ones ran.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a version number and '_'", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	// Glob returns names sorted, and the zero-padded numbers sort as
	// numbers do; the check below catches a file that breaks that.
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlite: migration %s: version %d, want %d (versions must run 1, 2, 3... without gaps or repeats)", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("sqlite: no migrations embedded")
	}
	return ms, nil
}

// latest is the schema version this binary is written for.
func (s *Store) latest() int { return s.migrations[len(s.migrations)-1].version }

// SchemaVersion returns the database's schema version (0 for a database
// never migrated) and the version this binary wants.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	current, err = s.currentVersion(ctx, s.db)
	if err != nil {
		return 0, 0, err
	}
	return current, s.latest(), nil
}

// querier is what currentVersion needs of a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// currentVersion reads the highest applied version without creating
// anything, so that CheckSchema never writes.
func (s *Store) currentVersion(ctx context.Context, q querier) (int, error) {
	var tables int
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables)
	if err != nil {
		return 0, fmt.Errorf("sqlite: read schema version of %s: %w", s.path, err)
	}
	if tables == 0 {
		return 0, nil
	}
	var v int
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: read schema version of %s: %w", s.path, err)
	}
	return v, nil
}

// tooNew is ErrSchemaTooNew with the versions in the message.
func (s *Store) tooNew(current int) error {
	return fmt.Errorf("%w: %s is at schema version %d, this binary knows up to %d; upgrade gatehouse",
		ErrSchemaTooNew, s.path, current, s.latest())
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
			ErrSchemaNotMigrated, s.path, current, latest)
	}
	return nil
}

// Migrate applies the migrations the database lacks, each in its own
// transaction together with its row in schema_migrations, so a failure
// leaves the database at the last version that fully applied. It returns
// ErrSchemaTooNew, changing nothing, when the database is ahead of this
// binary. Running it on an up-to-date database does nothing.
func (s *Store) Migrate(ctx context.Context) error {
	current, err := s.currentVersion(ctx, s.db)
	if err != nil {
		return err
	}
	if current > s.latest() {
		return s.tooNew(current)
	}
	if current == s.latest() {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", s.path, err)
	}
	for _, m := range s.migrations[current:] {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one migration unless it has already run. The version is read
// again inside the (immediate, so exclusive) transaction because another
// process may be migrating the same file at the same time.
func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s to version %d: %w", s.path, m.version, err)
	}
	defer rollback(tx)
	current, err := s.currentVersion(ctx, tx)
	if err != nil {
		return err
	}
	switch {
	case current > s.latest():
		return s.tooNew(current)
	case current >= m.version:
		return nil
	case current != m.version-1:
		return fmt.Errorf("sqlite: migrate %s to version %d: database is at version %d", s.path, m.version, current)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migrate %s: %s: %w", s.path, m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, millis(time.Now())); err != nil {
		return fmt.Errorf("sqlite: migrate %s: record %s: %w", s.path, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate %s: commit %s: %w", s.path, m.name, err)
	}
	return nil
}
