-- The raw archive (crates/meshview-store/src/archive.rs): every MQTT message the writer
-- accepted, in zstd-compressed segments written with the batch whose rows they gave.
-- Read in (first_us, id) order to replay; purged by last_us.
CREATE TABLE archive_segment (
    id INTEGER PRIMARY KEY,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX idx_archive_segment_first_us ON archive_segment (first_us, id);
CREATE INDEX idx_archive_segment_last_us ON archive_segment (last_us);
