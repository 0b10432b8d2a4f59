-- Further recipients (Cc) of a constituent's notifications, a JSON list of addresses like the
-- other lists; '[]' for none. Same column on SQLite (0011).
ALTER TABLE constituents ADD COLUMN also_notify TEXT NOT NULL DEFAULT '[]';
