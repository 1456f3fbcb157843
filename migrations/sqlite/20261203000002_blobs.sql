-- Compressed storage (SQLite dialect). Keep in step with ../postgres.
-- A blob is one file of the store: a compressed volume (its container), the
-- headers of a volume's instances, or one whole instance compressed with zstd.

CREATE TABLE blobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,      -- 'instance-zstd', 'volume', 'headers'
    path        TEXT NOT NULL UNIQUE,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL,      -- of the file
    created_ms  BIGINT NOT NULL
);

-- Where a compressed instance lives: its blob (and, for volumes, the slice
-- and the headers blob). NULL while only the spool copy exists.
ALTER TABLE instances ADD COLUMN blob INTEGER REFERENCES blobs(id);
ALTER TABLE instances ADD COLUMN blob_slice INTEGER;
ALTER TABLE instances ADD COLUMN header_blob INTEGER REFERENCES blobs(id);
CREATE INDEX instances_blob ON instances(blob);
