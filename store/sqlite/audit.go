package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
)

// maxAuditLimit caps ListAudit's page size, whatever the caller asks for,
// so that one request cannot read the whole log into memory.
const maxAuditLimit = 1000

const auditColumns = `id, time, type, actor_id, user_id, session_id, ip, detail`

// AppendAudit implements store.Audit. An empty Detail is stored as NULL.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	var detail sql.NullString
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return 0, fmt.Errorf("sqlite: append audit %s: detail: %w", e.Type, err)
		}
		detail = sql.NullString{String: string(b), Valid: true}
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO audit_events (time, type, actor_id, user_id, session_id, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		millis(e.Time), e.Type, e.ActorID, e.UserID, e.SessionID, e.IP, detail)
	if err != nil {
		return 0, fmt.Errorf("sqlite: append audit %s: %w", e.Type, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("sqlite: append audit %s: %w", e.Type, err)
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
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, millis(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, millis(f.Until))
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, auditLimit(f.Limit))

	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var (
			e      store.AuditEvent
			at     int64
			detail sql.NullString
		)
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.ActorID, &e.UserID, &e.SessionID, &e.IP, &detail); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		e.Time = fromMillis(at)
		if detail.Valid {
			if err := json.Unmarshal([]byte(detail.String), &e.Detail); err != nil {
				return nil, fmt.Errorf("sqlite: list audit: detail of event %d: %w", e.ID, err)
			}
			if len(e.Detail) == 0 {
				e.Detail = nil
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
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
