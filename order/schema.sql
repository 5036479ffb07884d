-- order/schema.sql - one order replica's tables (the log tables are fcgi/repl.c's).
-- An order is recorded once, after the catalog took its copy; see
-- docs/REPLICATION.md, "The purchase flow".
CREATE TABLE IF NOT EXISTS orders (
    order_id    INTEGER PRIMARY KEY,
    book_id     INTEGER NOT NULL,
    key         TEXT    NOT NULL UNIQUE,   -- the purchase's Idempotency-Key
    title       TEXT    NOT NULL,          -- as the catalog sold it
    price_cents INTEGER NOT NULL,
    created_at  TEXT    NOT NULL           -- UTC ISO-8601, set by the primary
);

-- How far the sweep has checked the catalog's purchase records: every record
-- at or below this catalog log position has its order. Replicated (the
-- "swept" entry), so a new primary goes on where the old one stopped.
CREATE TABLE IF NOT EXISTS sweep (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    catalog_pos INTEGER NOT NULL
);
INSERT OR IGNORE INTO sweep VALUES (1, 0);
