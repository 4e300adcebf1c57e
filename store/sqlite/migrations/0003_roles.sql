-- 0003: role definitions. Permissions are a JSON array of strings, sorted.
CREATE TABLE roles (
	name        TEXT    NOT NULL PRIMARY KEY,
	permissions TEXT    NOT NULL CHECK (json_valid(permissions)),
	description TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;
