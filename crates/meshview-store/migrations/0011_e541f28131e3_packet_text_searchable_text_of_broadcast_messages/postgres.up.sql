-- The searchable text of each broadcast text message: the text MeshView shows, trimmed
-- and lower-cased (by the writer, in Rust, so non-ASCII letters fold too). Text searches
-- (`/api/packets?portnum=1&contains=…`, the weekly net page) read this narrow table
-- instead of decoding every stored message: a week of a 2,000-node mesh holds ~100,000
-- text messages. Direct messages (shown redacted), undecryptable packets and range-test
-- noise (`seq N`, empty) have no row. The hook fills it from the stored packets.
CREATE TABLE packet_text (
    packet_id BIGINT NOT NULL PRIMARY KEY,
    import_time_us BIGINT NOT NULL,
    text_lower VARCHAR NOT NULL
);
-- Newest first, and covering (an index-only scan once vacuumed): a search visits
-- `packet` only for the rows that match.
CREATE INDEX idx_packet_text_import_time ON packet_text (import_time_us, packet_id, text_lower);
