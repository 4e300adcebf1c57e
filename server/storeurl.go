package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/store/sqlite"
)

// OpenStore opens the store named by a URL: sqlite://PATH (relative, or
// sqlite:///absolute/path) or memory:// (nothing kept; for trials). With
// migrate, an embedded SQLite database gets its schema created or brought
// up to date; without it, an out-of-date schema is refused.
func OpenStore(ctx context.Context, raw string, migrate bool) (store.Store, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("store %q: want a URL such as sqlite://gatehouse.db", redactURL(raw))
	}
	switch scheme {
	case "memory":
		return memory.New(), nil
	case "sqlite":
		path := rest
		if path == "" {
			return nil, errors.New("store: sqlite:// needs a file path, e.g. sqlite://gatehouse.db")
		}
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
		if migrate {
			err = st.Migrate(ctx)
		} else {
			err = st.CheckSchema(ctx)
		}
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("sqlite store %s: %w", path, err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("store %q: unknown kind %q (use sqlite:// or memory://)", redactURL(raw), scheme)
	}
}

// redactURL hides a password in a store URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
