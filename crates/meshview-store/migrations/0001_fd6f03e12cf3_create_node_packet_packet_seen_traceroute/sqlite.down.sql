DROP TABLE traceroute;
DROP TABLE packet_seen;
DROP TABLE packet;
DROP TABLE node;
