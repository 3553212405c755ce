-- The link-quality model (docs/links.md), kept current by the writer in the same
-- transaction as the raw rows. A directed link is "to_node heard from_node"; its evidence
-- comes from traceroute hops, neighbour reports, receptions a gateway heard directly
-- (hop_start = hop_limit) and relayed receptions whose relayer `relay_node` identifies.

-- The last relayer's low byte as the gateway reported it (firmware 2.5 and later; NULL
-- when absent and for receptions stored before this migration). Kept so the relay
-- evidence can be recomputed from the raw rows like every other source.
ALTER TABLE packet_seen ADD COLUMN relay_node INTEGER;

-- One row per directed link: sample counts per source, when it was first and last
-- evidenced, the newest and the median SNR (dB) and the RSSI of direct receptions.
CREATE TABLE link_quality (
    from_node_id BIGINT NOT NULL,
    to_node_id BIGINT NOT NULL,
    first_seen_us BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    traceroute_samples BIGINT NOT NULL,
    neighbor_samples BIGINT NOT NULL,
    reception_samples BIGINT NOT NULL,
    relay_samples BIGINT NOT NULL,
    snr_samples BIGINT NOT NULL,
    last_snr FLOAT,
    median_snr FLOAT,
    rssi_samples BIGINT NOT NULL,
    rssi_sum BIGINT NOT NULL,
    PRIMARY KEY (from_node_id, to_node_id)
);
CREATE INDEX idx_link_quality_seen ON link_quality (last_seen_us);
CREATE INDEX idx_link_quality_to ON link_quality (to_node_id, last_seen_us);

-- Each link's SNR samples in half-dB bins (snr_bin = round(snr_db × 2)): the median's
-- input, a few dozen rows per link whatever its traffic.
CREATE TABLE link_snr (
    from_node_id BIGINT NOT NULL,
    to_node_id BIGINT NOT NULL,
    snr_bin INTEGER NOT NULL,
    samples BIGINT NOT NULL,
    PRIMARY KEY (from_node_id, to_node_id, snr_bin)
);

-- Each link's evidence per UTC hour: the series of /api/links/{from}/{to}.
CREATE TABLE link_hourly (
    from_node_id BIGINT NOT NULL,
    to_node_id BIGINT NOT NULL,
    hour_us BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    snr_samples BIGINT NOT NULL,
    snr_sum FLOAT NOT NULL,
    snr_min FLOAT,
    snr_max FLOAT,
    PRIMARY KEY (from_node_id, to_node_id, hour_us)
);
