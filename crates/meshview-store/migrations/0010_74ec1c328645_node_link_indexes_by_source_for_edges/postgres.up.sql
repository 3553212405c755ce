-- `/api/edges` reads one link source at a time: "links of source S seen since T" and, for
-- neighbour links, each reporter's newest report ("MAX(last_seen_us) of source S to node
-- N"). With only (last_seen_us) and (to_node_id) indexes both walked rows of the other
-- source too, and the per-reporter maximum read every link of the reporter (hundreds of
-- traceroute links on a big mesh) for each neighbour link: half a second per request.
-- The first index carries every column the endpoint returns, so a window of tens of
-- thousands of links is read from the index alone.
CREATE INDEX idx_node_link_source_seen ON node_link
    (source, last_seen_us, from_node_id, to_node_id, count, last_snr, first_seen_us, last_packet_id);
CREATE INDEX idx_node_link_source_to_seen ON node_link (source, to_node_id, last_seen_us);
-- Superseded by idx_node_link_source_seen for every query that used it.
DROP INDEX idx_node_link_last_seen;
