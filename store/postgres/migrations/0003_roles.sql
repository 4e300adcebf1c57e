-- 0003: role definitions. Permissions are a text array, sorted and without
-- duplicates (the store normalises them before writing).
CREATE TABLE roles (
	name        text        COLLATE "C" NOT NULL PRIMARY KEY,
	permissions text[]      NOT NULL,
	description text        NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);
