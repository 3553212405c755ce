DROP INDEX idx_link_quality_rank;
ALTER TABLE link_quality DROP COLUMN rank;
