-- 0002: token mode. Refresh-token state on sessions, signing keys, the
-- revocation list and the audit log.
--
-- A zero time.Time is stored as its unix milliseconds, -62135596800000
-- (year 1), not as 0 (1970): that is how every time column has stored it
-- since 0001, and it is the only value that reads back as the zero time.
-- The default of refresh_rotated_at is therefore that number, so that
-- sessions created before this migration read back with every refresh
-- field zero, as cookie sessions must.

-- refresh_hash is NULL for "no refresh token" (a cookie session); the
-- store never writes an empty blob. It is not indexed: a refresh token
-- names its session, which is then found by ID.
ALTER TABLE sessions ADD COLUMN refresh_hash BLOB;
ALTER TABLE sessions ADD COLUMN refresh_gen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN refresh_rotated_at INTEGER NOT NULL DEFAULT -62135596800000;

CREATE TABLE signing_keys (
	id         TEXT    NOT NULL PRIMARY KEY,
	alg        TEXT    NOT NULL,
	sealed     BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	-- The zero time (-62135596800000) while the key may sign.
	retired_at INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT, not a plain rowid: seq must never be reused, even after
-- the entry with the highest seq has expired and been deleted, or an
-- instance that saw that seq would miss the entry that reuses it.
CREATE TABLE revocations (
	seq        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	kind       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	not_before INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

-- Serves the expiry filter of RevocationsSince and the garbage collector.
CREATE INDEX revocations_expires_at ON revocations (expires_at);

-- No foreign keys: the log must outlive the users and sessions it names.
-- Empty strings, not NULLs, stand for "none" in the ID columns, so that
-- the filters compare with = alone.
CREATE TABLE audit_events (
	id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	time       INTEGER NOT NULL,
	type       TEXT    NOT NULL,
	actor_id   TEXT    NOT NULL DEFAULT '',
	user_id    TEXT    NOT NULL DEFAULT '',
	session_id TEXT    NOT NULL DEFAULT '',
	ip         TEXT    NOT NULL DEFAULT '',
	-- A JSON object of strings, or NULL when there is no detail.
	detail     TEXT    CHECK (detail IS NULL OR json_valid(detail))
) STRICT;

-- "This user's events, newest first" and "events of this type, newest
-- first", each paged by id; and the time-window filters.
CREATE INDEX audit_events_user_id_id ON audit_events (user_id, id);
CREATE INDEX audit_events_type_id ON audit_events (type, id);
CREATE INDEX audit_events_time ON audit_events (time);
