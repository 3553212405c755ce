-- The raw archive (crates/meshview-store/src/archive.rs): every MQTT message the writer
-- accepted, in zstd-compressed segments written with the batch whose rows they gave.
-- Read in (first_us, id) order to replay; purged by last_us.
CREATE TABLE archive_segment (
    id BIGSERIAL PRIMARY KEY,
    first_us BIGINT NOT NULL,
    last_us BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    raw_bytes BIGINT NOT NULL,
    data BYTEA NOT NULL
);
-- Already compressed: TOAST stores it out of line without trying pglz again.
ALTER TABLE archive_segment ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX idx_archive_segment_first_us ON archive_segment (first_us, id);
CREATE INDEX idx_archive_segment_last_us ON archive_segment (last_us);
