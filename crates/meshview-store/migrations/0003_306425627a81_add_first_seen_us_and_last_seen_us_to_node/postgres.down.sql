ALTER TABLE node DROP COLUMN last_seen_us;
ALTER TABLE node DROP COLUMN first_seen_us;
