DROP INDEX idx_packet_text_import_time;
DROP TABLE packet_text;
