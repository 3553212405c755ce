ALTER TABLE node DROP COLUMN is_mqtt_gateway;
