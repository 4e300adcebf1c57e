package memory

import (
	"context"
	"maps"

	"github.com/gatehouse/gatehouse/store"
)

// AppendAudit implements store.Audit. An empty Detail is kept as nil, as
// the SQLite backend's NULL.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	e.Time = normTime(e.Time)
	e.Detail = cloneDetail(e.Detail)
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = int64(len(s.audit)) + 1
	s.audit = append(s.audit, e)
	return e.ID, nil
}

// ListAudit implements store.Audit. It scans the log from the newest
// event back, which is fine for a store that lives as long as a test.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	end := len(s.audit) // events with ID < Before are audit[:Before-1]
	if f.Before > 0 && f.Before-1 < int64(end) {
		end = int(f.Before - 1)
	}
	var out []store.AuditEvent
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		e := s.audit[i]
		switch {
		case f.UserID != "" && e.UserID != f.UserID,
			f.Type != "" && e.Type != f.Type,
			!f.Since.IsZero() && e.Time.Before(normTime(f.Since)),
			!f.Until.IsZero() && !e.Time.Before(normTime(f.Until)):
			continue
		}
		e.Detail = cloneDetail(e.Detail)
		out = append(out, e)
	}
	return out, nil
}

// cloneDetail copies an event's detail, nil when it is empty.
func cloneDetail(d map[string]string) map[string]string {
	if len(d) == 0 {
		return nil
	}
	return maps.Clone(d)
}
