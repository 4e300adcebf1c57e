-- 0004: password-reset tokens (only their SHA-256 is kept).
CREATE TABLE reset_tokens (
	token_hash bytea       NOT NULL PRIMARY KEY,
	user_id    text        COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX reset_tokens_user_id ON reset_tokens (user_id);
