package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/combined"
	"github.com/gatehouse/gatehouse/store/memory"
	"github.com/gatehouse/gatehouse/store/postgres"
	"github.com/gatehouse/gatehouse/store/redis"
	"github.com/gatehouse/gatehouse/store/sqlite"
)

// OpenStore opens the store named by a URL: sqlite://PATH (relative, or
// sqlite:///absolute/path), postgres://… (or postgresql://…), or memory://
// (nothing kept; for trials).
//
// The embedded SQLite store always brings its schema up to date: it is the
// no-setup default. A PostgreSQL schema is shared by many instances, so it
// is only migrated when migrate is set (`gatehouse migrate`); otherwise an
// unmigrated or newer schema is refused with a message that says what to do.
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
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("sqlite store %s: %w", path, err)
		}
		return st, nil
	case "postgres", "postgresql":
		st, err := postgres.Open(ctx, raw)
		if err != nil {
			return nil, fmt.Errorf("open postgres store %s: %w", redactURL(raw), err)
		}
		if migrate {
			err = st.Migrate(ctx)
		} else {
			err = st.CheckSchema(ctx)
		}
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("postgres store %s: %w", redactURL(raw), err)
		}
		return st, nil
	default:
		return nil, fmt.Errorf("store %q: unknown kind %q (use sqlite://, postgres:// or memory://)", redactURL(raw), scheme)
	}
}

// OpenStores opens the durable store and, when cacheURL is set, the Redis
// cache, and combines them: users, roles, keys and audit in the durable
// store; sessions, refresh state and revocations in Redis. It also returns
// the Redis cache (nil without one) for the shared login throttle.
func OpenStores(ctx context.Context, storeURL, cacheURL, cachePrefix string, migrate bool) (store.Store, *redis.Hot, error) {
	durable, err := OpenStore(ctx, storeURL, migrate)
	if err != nil || cacheURL == "" {
		return durable, nil, err
	}
	if !strings.HasPrefix(cacheURL, "redis://") && !strings.HasPrefix(cacheURL, "rediss://") {
		durable.Close()
		return nil, nil, fmt.Errorf("cache %q: want redis://HOST:PORT/DB", redactURL(cacheURL))
	}
	hot, err := redis.Open(ctx, cacheURL, redis.Options{Prefix: cachePrefix})
	if err != nil {
		durable.Close()
		return nil, nil, fmt.Errorf("open redis cache %s: %w", redactURL(cacheURL), err)
	}
	return combined.New(durable, hot), hot, nil
}

// redactURL hides a password in a store URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
