-- 0002: token mode. Refresh-token state on sessions, signing keys, the
-- revocation list and the audit log.
--
-- A zero time.Time is stored as itself, 0001-01-01 00:00:00 UTC (which
-- timestamptz can hold), never as NULL: it is what every time column holds
-- for "no time" since 0001. The default of refresh_rotated_at is therefore
-- that instant, so that sessions created before this migration read back
-- with every refresh field zero, as cookie sessions must.

-- refresh_hash is NULL for "no refresh token" (a cookie session); the
-- store never writes an empty bytea. It is not indexed: a refresh token
-- names its session, which is then found by ID.
ALTER TABLE sessions ADD COLUMN refresh_hash bytea;
ALTER TABLE sessions ADD COLUMN refresh_gen bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN refresh_rotated_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00+00';

CREATE TABLE signing_keys (
	id         text        COLLATE "C" NOT NULL PRIMARY KEY,
	alg        text        NOT NULL,
	sealed     bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	-- The zero time (0001-01-01 UTC) while the key may sign.
	retired_at timestamptz NOT NULL
);

-- seq comes from a sequence, which never hands out a number twice, even
-- after the entry with the highest seq has expired and been deleted (an
-- instance that saw that seq would otherwise miss the entry reusing it).
-- GENERATED ALWAYS, so that no INSERT can pick its own seq and bypass the
-- ordering AddRevocations relies on; and the sequence's CACHE stays 1,
-- since cached ranges would hand sessions numbers out of order.
--
-- A sequence alone does not make seq the order of visibility: a lower seq
-- can commit after a higher one. AddRevocations closes that gap with a
-- table lock; see the comment there.
CREATE TABLE revocations (
	seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind       text        NOT NULL,
	key        text        NOT NULL,
	not_before timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL
);

-- Serves the expiry filter of RevocationsSince and the garbage collector.
CREATE INDEX revocations_expires_at ON revocations (expires_at);

-- No foreign keys: the log must outlive the users and sessions it names.
-- Empty strings, not NULLs, stand for "none" in the ID columns, so that
-- the filters compare with = alone.
CREATE TABLE audit_events (
	id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time       timestamptz NOT NULL,
	type       text        NOT NULL,
	actor_id   text        NOT NULL DEFAULT '',
	user_id    text        NOT NULL DEFAULT '',
	session_id text        NOT NULL DEFAULT '',
	ip         text        NOT NULL DEFAULT '',
	-- A JSON object of strings, or NULL when there is no detail.
	detail     jsonb       CHECK (detail IS NULL OR jsonb_typeof(detail) = 'object')
);

-- "This user's events, newest first" and "events of this type, newest
-- first", each paged by id; and the time-window filters.
CREATE INDEX audit_events_user_id_id ON audit_events (user_id, id);
CREATE INDEX audit_events_type_id ON audit_events (type, id);
CREATE INDEX audit_events_time ON audit_events (time);
