-- 0001: users, their roles, and sign-in sessions.
--
-- Times are timestamptz. The column keeps microseconds, but the store
-- writes every time truncated to the millisecond, as the store contract
-- says, so that what is read back equals what was written.
--
-- Text keys and anything the store orders by are COLLATE "C": byte order,
-- as Go compares strings, whatever the database's locale. Paging with
-- "id > after" then agrees with the caller's own comparisons, and role
-- names come back in the order Go's sort would give.

CREATE TABLE users (
	id            text        COLLATE "C" NOT NULL PRIMARY KEY,
	email         text        COLLATE "C" NOT NULL,
	password_hash text        NOT NULL,
	disabled      boolean     NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);

-- Callers normalise emails already; this is the backstop against two
-- accounts differing only in case. lower() under the column's "C"
-- collation folds ASCII letters only, exactly as SQLite's NOCASE does, so
-- both backends accept and refuse the same emails. Lookups spell the same
-- expression (lower(email) = lower($1::text COLLATE "C")) to use this index.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE user_roles (
	user_id text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role    text COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
	id              text        COLLATE "C" NOT NULL PRIMARY KEY,
	-- SHA-256 of the session token; the token itself is never stored.
	token_hash      bytea       NOT NULL UNIQUE,
	user_id         text        COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at      timestamptz NOT NULL,
	auth_time       timestamptz NOT NULL,
	last_seen_at    timestamptz NOT NULL,
	idle_expires_at timestamptz NOT NULL,
	expires_at      timestamptz NOT NULL,
	ip              text        NOT NULL,
	user_agent      text        NOT NULL
);

-- Serves "this user's sessions, newest first" and the user_id foreign key
-- (deleting a user finds their sessions through it).
CREATE INDEX sessions_user_id_created_at ON sessions (user_id, created_at);
-- One index per deadline: the garbage collector's OR uses both.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
