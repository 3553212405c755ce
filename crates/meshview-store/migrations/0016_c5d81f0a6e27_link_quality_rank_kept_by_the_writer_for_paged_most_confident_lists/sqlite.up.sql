-- `/api/links` lists the most confident links a page at a time. The confidence fades with
-- time, but its logarithm is `rank` minus a term common to every link, so the order is
-- stored: a page is a walk of this index instead of a read and sort of every link. The
-- writer keeps `rank` current; this migration's hook ranks the stored rows.
ALTER TABLE link_quality ADD COLUMN rank FLOAT NOT NULL DEFAULT 0;
CREATE INDEX idx_link_quality_rank ON link_quality (rank DESC, last_seen_us DESC, from_node_id, to_node_id);
