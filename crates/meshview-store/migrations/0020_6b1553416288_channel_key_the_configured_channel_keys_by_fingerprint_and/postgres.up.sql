-- The channel keys the writer has been configured with, by fingerprint (a hash: the key
-- itself stays in config.ini), and the receive time up to which each has been tried on
-- the packets stored undecryptable. A key that is new here, or configured again after a
-- pause, decrypts the stored packets in place (src/ingest/retro.rs).
CREATE TABLE channel_key (
    fingerprint VARCHAR NOT NULL PRIMARY KEY,
    first_configured_us BIGINT NOT NULL,
    decrypted_through_us BIGINT NOT NULL,
    packets_decrypted BIGINT NOT NULL DEFAULT 0
);
