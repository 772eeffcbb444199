-- One database per service: each service owns its data and no service reads another's tables.
-- The postgres image runs this once, when its data volume is new (docker-entrypoint-initdb.d).
-- Each service creates its own tables at start-up (Alembic migrations).
CREATE DATABASE accounts;
CREATE DATABASE roster;
CREATE DATABASE membership;
CREATE DATABASE budget;
CREATE DATABASE invoicing;
CREATE DATABASE weborders;
CREATE DATABASE notifier;
