package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/store"
)

// maxAuditLimit caps ListAudit's page size, whatever the caller asks for,
// so that one request cannot read the whole log into memory.
const maxAuditLimit = 1000

const auditColumns = `id, time, type, actor_id, user_id, session_id, ip, detail`

// AppendAudit implements store.Audit. An empty Detail is stored as NULL.
//
// IDs come from a sequence, so they increase in the order events are
// appended, not quite the order their transactions commit: unlike
// revocations, nothing polls the log for "what is new since", so no lock
// is spent on making the two agree.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	what := "append audit " + e.Type
	var detail []byte // nil binds as NULL
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return 0, fmt.Errorf("postgres: %s: detail: %w", what, err)
		}
		detail = b
	}
	var id int64
	err := s.pool.QueryRow(ctx,
		`INSERT INTO audit_events (time, type, actor_id, user_id, session_id, ip, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		ms(e.Time), e.Type, e.ActorID, e.UserID, e.SessionID, e.IP, detail).Scan(&id)
	if err != nil {
		return 0, wrap(what, err)
	}
	return id, nil
}

// ListAudit implements store.Audit. A UserID or Type filter walks its
// (column, id) index backwards from Before, so a page costs about Limit
// rows however long the log.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	// add appends a condition on the next argument, written $ in cond.
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.Replace(cond, "$", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.UserID != "" {
		add("user_id = $", f.UserID)
	}
	if f.Type != "" {
		add("type = $", f.Type)
	}
	if !f.Since.IsZero() {
		add("time >= $", ms(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < $", ms(f.Until))
	}
	if f.Before > 0 {
		add("id < $", f.Before)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, auditLimit(f.Limit))
	q += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list audit", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.AuditEvent, error) {
		var (
			e      store.AuditEvent
			detail []byte
		)
		if err := row.Scan(&e.ID, &e.Time, &e.Type, &e.ActorID, &e.UserID, &e.SessionID, &e.IP, &detail); err != nil {
			return e, err
		}
		e.Time = e.Time.UTC()
		if detail != nil {
			if err := json.Unmarshal(detail, &e.Detail); err != nil {
				return e, fmt.Errorf("detail of event %d: %w", e.ID, err)
			}
			if len(e.Detail) == 0 {
				e.Detail = nil
			}
		}
		return e, nil
	})
	if err != nil {
		return nil, wrap("list audit", err)
	}
	return out, nil
}

// auditLimit is the page size ListAudit uses when asked for limit.
func auditLimit(limit int) int {
	switch {
	case limit <= 0:
		return defaultLimit
	case limit > maxAuditLimit:
		return maxAuditLimit
	}
	return limit
}
