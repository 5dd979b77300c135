-- One role and one database per service: a service can reach its own tables and no others.
-- Run once by the postgres image on an empty data dir (docker-compose.yml). The passwords are
-- for a local run only; production takes its database URLs from secrets (deploy/k8s).

CREATE ROLE orders LOGIN PASSWORD 'orders';
CREATE DATABASE orders OWNER orders;
REVOKE ALL ON DATABASE orders FROM PUBLIC;

CREATE ROLE inventory LOGIN PASSWORD 'inventory';
CREATE DATABASE inventory OWNER inventory;
REVOKE ALL ON DATABASE inventory FROM PUBLIC;

CREATE ROLE logistics LOGIN PASSWORD 'logistics';
CREATE DATABASE logistics OWNER logistics;
REVOKE ALL ON DATABASE logistics FROM PUBLIC;

-- Created last: the compose health check waits for this one.
CREATE ROLE aftersales LOGIN PASSWORD 'aftersales';
CREATE DATABASE aftersales OWNER aftersales;
REVOKE ALL ON DATABASE aftersales FROM PUBLIC;
