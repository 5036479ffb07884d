-- order/schema.sql - one order replica's tables (the log tables are fcgi/repl.c's).
-- An order is opened ('pending') before the catalog takes the copy, then
-- closed ('done') or failed; see docs/REPLICATION.md, "The purchase flow".
CREATE TABLE IF NOT EXISTS orders (
    order_id    INTEGER PRIMARY KEY,
    book_id     INTEGER NOT NULL,
    key         TEXT    NOT NULL UNIQUE,   -- the purchase's Idempotency-Key
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    title       TEXT,
    price_cents INTEGER,
    fail_status INTEGER,                   -- 404 or 409 when failed
    created_at  TEXT    NOT NULL           -- UTC ISO-8601, set by the primary
);
CREATE INDEX IF NOT EXISTS orders_pending ON orders (created_at) WHERE status = 'pending';
