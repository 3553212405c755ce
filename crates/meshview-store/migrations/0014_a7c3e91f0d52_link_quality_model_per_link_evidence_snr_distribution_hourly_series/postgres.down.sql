DROP TABLE link_hourly;
DROP TABLE link_snr;
DROP TABLE link_quality;
ALTER TABLE packet_seen DROP COLUMN relay_node;
