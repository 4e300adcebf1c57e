-- 0004: password-reset tokens (only their SHA-256 is kept).
CREATE TABLE reset_tokens (
	token_hash BLOB    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX reset_tokens_user_id ON reset_tokens (user_id);
