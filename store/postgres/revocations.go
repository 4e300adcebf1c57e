package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
)

const revocationColumns = `seq, kind, key, not_before, expires_at, created_at`

// channelPrefix starts the name of the NOTIFY channel on which
// AddRevocations announces new entries; the schema's name follows (see
// channelName).
const channelPrefix = "gatehouse_revocations_"

// AddRevocations implements store.Revocations.
//
// Seq must be the order in which entries become visible, or an instance
// asking for "Seq > the last I saw" could miss one for good: a sequence
// hands out numbers as inserts run, not as they commit, so a transaction
// holding seq 10 may commit after another has committed seq 11 and a
// reader has seen 11. So the transaction first takes a SHARE ROW
// EXCLUSIVE lock on the table, which conflicts with itself: adders run one
// at a time, each drawing its seqs only after the one before has
// committed (PostgreSQL releases locks after the commit is visible). It
// also conflicts with the ROW EXCLUSIVE of any INSERT or DELETE in
// progress, so an entry written around the store is waited for too, and
// the garbage collector's batches briefly hold adders up. Readers take
// ACCESS SHARE and never wait for it.
//
// The NOTIFY goes out in the same transaction, and PostgreSQL delivers it
// on commit, so a listener woken by it finds the entries there.
func (s *Store) AddRevocations(ctx context.Context, rs []store.Revocation) ([]store.Revocation, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	channel, err := s.revocationChannel(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, wrap("add revocations", err)
	}
	defer rollback(ctx, tx)
	// The lock goes first, in a round trip of its own: in a pipeline,
	// PostgreSQL parses the queued INSERTs, which takes ROW EXCLUSIVE on
	// the table, before it runs the LOCK, and two transactions upgrading
	// from ROW EXCLUSIVE deadlock.
	if _, err := tx.Exec(ctx, `LOCK TABLE revocations IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return nil, wrap("add revocations: lock", err)
	}
	// Then one round trip for every insert and the notification.
	// Statements of a batch run in order, so seqs follow rs.
	b := &pgx.Batch{}
	out := make([]store.Revocation, len(rs))
	for i, r := range rs {
		r.NotBefore, r.ExpiresAt, r.CreatedAt = ms(r.NotBefore), ms(r.ExpiresAt), ms(r.CreatedAt)
		out[i] = r
		b.Queue(`INSERT INTO revocations (kind, key, not_before, expires_at, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq`,
			r.Kind, r.Key, r.NotBefore, r.ExpiresAt, r.CreatedAt).QueryRow(func(row pgx.Row) error {
			return row.Scan(&out[i].Seq)
		})
	}
	b.Queue(`SELECT pg_notify($1, '')`, channel)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, wrap("add revocations", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, wrap("add revocations", err)
	}
	return out, nil
}

// RevocationsSince implements store.Revocations. An entry whose ExpiresAt
// equals now has expired, as a session's deadline has.
func (s *Store) RevocationsSince(ctx context.Context, after int64, now time.Time) ([]store.Revocation, error) {
	what := fmt.Sprintf("revocations since %d", after)
	rows, err := s.pool.Query(ctx,
		`SELECT `+revocationColumns+` FROM revocations WHERE seq > $1 AND expires_at > $2 ORDER BY seq`,
		after, ms(now))
	if err != nil {
		return nil, wrap(what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Revocation, error) {
		var r store.Revocation
		err := row.Scan(&r.Seq, &r.Kind, &r.Key, &r.NotBefore, &r.ExpiresAt, &r.CreatedAt)
		r.NotBefore, r.ExpiresAt, r.CreatedAt = r.NotBefore.UTC(), r.ExpiresAt.UTC(), r.CreatedAt.UTC()
		return r, err
	})
	if err != nil {
		return nil, wrap(what, err)
	}
	return out, nil
}

// DeleteExpiredRevocations implements store.Revocations. Like
// DeleteExpiredSessions it deletes in batches of expiredBatch, each its
// own statement, and counts the batches done if the context ends.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time) (int, error) {
	at := ms(now)
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM revocations WHERE seq IN (
			SELECT seq FROM revocations WHERE expires_at <= $1 LIMIT $2)`, at, expiredBatch)
		if err != nil {
			return total, wrap("delete expired revocations", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n < expiredBatch {
			return total, nil
		}
	}
}

// WatchRevocations implements store.RevocationWatcher with LISTEN on a
// connection of its own: it calls notify once LISTEN is in place (so that
// the caller catches up on anything added while nobody was listening),
// then once per transaction that added revocations to this schema. It
// returns when ctx ends, when Close is called, or when the connection
// fails, which a ping every watchPing of silence detects.
//
// The connection is taken from the pool and never given back: one that
// has LISTENed would keep collecting notifications for whoever borrowed
// it next. It is closed on return, which ends the LISTEN.
func (s *Store) WatchRevocations(ctx context.Context, notify func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()

	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return watchErr(ctx, err)
	}
	conn := pc.Hijack()
	defer func() {
		// Bounded, as ctx may be done already; a dead server must not
		// hold up the return.
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		defer ccancel()
		conn.Close(cctx)
	}()
	channel, err := s.revocationChannel(ctx, conn)
	if err != nil {
		return watchErr(ctx, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return watchErr(ctx, err)
	}
	notify()
	for {
		wctx, wcancel := context.WithTimeout(ctx, s.pingEvery)
		_, err := conn.WaitForNotification(wctx)
		wcancel()
		switch {
		case err == nil:
			notify()
		case ctx.Err() != nil:
			return watchErr(ctx, err)
		case wctx.Err() != nil:
			// Silence for pingEvery: check that it is not a dead line. A
			// notification arriving during the ping is kept by pgx and
			// returned by the next wait.
			pctx, pcancel := context.WithTimeout(ctx, s.pingTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return watchErr(ctx, fmt.Errorf("ping: %w", err))
			}
		default:
			return watchErr(ctx, err)
		}
	}
}

// watchErr is the error WatchRevocations returns: ctx's own error once
// ctx has ended, whatever pgx made of the interrupted read, so that
// callers can tell a shutdown from a failure with errors.Is.
func watchErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return fmt.Errorf("postgres: watch revocations: %w", err)
}

// revocationChannel returns the NOTIFY channel of this store's
// revocations: one per schema, so that gatehouse deployments (or test
// runs) sharing a database in different schemas do not wake each other.
// The schema is the one the revocations table is found in through the
// search_path, which is where AddRevocations writes; it is looked up
// once and remembered.
func (s *Store) revocationChannel(ctx context.Context, q querier) (string, error) {
	if ch := s.channel.Load(); ch != nil {
		return *ch, nil
	}
	var schema string
	err := q.QueryRow(ctx, `SELECT n.nspname FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass('revocations')`).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: %s has no revocations table; run gatehouse migrate", s.name)
	}
	if err != nil {
		return "", wrap("find the revocations table", err)
	}
	ch := channelName(schema)
	s.channel.Store(&ch)
	return ch, nil
}

// maxIdentifier is the longest identifier PostgreSQL keeps (NAMEDATALEN
// - 1 bytes); LISTEN would truncate a longer channel name, and pg_notify
// refuses one.
const maxIdentifier = 63

// channelName is the NOTIFY channel for the revocations in schema. A
// schema name too long to fit after channelPrefix is replaced by a hash
// of it, which fits and still tells schemas apart.
func channelName(schema string) string {
	if len(channelPrefix)+len(schema) <= maxIdentifier {
		return channelPrefix + schema
	}
	sum := sha256.Sum256([]byte(schema))
	return channelPrefix + hex.EncodeToString(sum[:16])
}
