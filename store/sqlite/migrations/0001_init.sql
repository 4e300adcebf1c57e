-- 0001: users, their roles, and sign-in sessions.
-- Times are INTEGER unix milliseconds, UTC. Tables are STRICT so that a
-- bug binding the wrong Go type fails loudly instead of storing text in an
-- integer column.

CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	-- NOCASE folds ASCII only; callers normalise emails already, this is
	-- the backstop against two accounts differing only in case.
	email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	password_hash TEXT    NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE user_roles (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role    TEXT NOT NULL,
	PRIMARY KEY (user_id, role)
) STRICT, WITHOUT ROWID;

CREATE TABLE sessions (
	id              TEXT    NOT NULL PRIMARY KEY,
	token_hash      BLOB    NOT NULL UNIQUE,
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at      INTEGER NOT NULL,
	auth_time       INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	ip              TEXT    NOT NULL,
	user_agent      TEXT    NOT NULL
) STRICT;

-- Serves "this user's sessions, newest first" and the user_id foreign key
-- (deleting a user finds their sessions through it).
CREATE INDEX sessions_user_id_created_at ON sessions (user_id, created_at);
-- One index per deadline: the garbage collector's OR uses both.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
