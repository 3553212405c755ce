DROP TABLE node_link;
DROP TABLE traffic_hourly;
