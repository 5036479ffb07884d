-- catalog/schema.sql - one catalog replica's tables (the log tables are fcgi/repl.c's).
CREATE TABLE IF NOT EXISTS books (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    quantity    INTEGER NOT NULL CHECK (quantity >= 0),
    version     INTEGER NOT NULL DEFAULT 0   -- log position of the last write to this book
);
CREATE INDEX IF NOT EXISTS books_topic ON books (topic, id);
-- The catalog pages (GET /browse): one index per sort order, so that a page
-- is read in order from an index instead of sorting every book, with and
-- without a topic. IF NOT EXISTS: a data file made before they existed
-- gets them when a replica opens it.
CREATE INDEX IF NOT EXISTS books_title ON books (title, id);
CREATE INDEX IF NOT EXISTS books_price ON books (price_cents, id);
CREATE INDEX IF NOT EXISTS books_quantity ON books (quantity, id);
CREATE INDEX IF NOT EXISTS books_topic_title ON books (topic, title, id);
CREATE INDEX IF NOT EXISTS books_topic_price ON books (topic, price_cents, id);
CREATE INDEX IF NOT EXISTS books_topic_quantity ON books (topic, quantity, id);

-- Title search (q of the catalog pages, 3 characters or more): a trigram
-- index of the titles, so that a substring is found without reading every
-- title. It holds nothing of its own (content = books), so the state hash
-- and snapshots ignore it; the state machine (catalog_db.c) indexes each
-- book it adds, and the whole table at once after the seed, a snapshot
-- install, or in a data file made before the index.
CREATE VIRTUAL TABLE IF NOT EXISTS books_title_fts
    USING fts5 (title, content = 'books', content_rowid = 'id', tokenize = 'trigram');

-- The generation of the set of books and their titles (one row): moved on
-- in the same transaction as every added book, installed snapshot and seed
-- import (catalog_db.c, where the title index changes), and by nothing else.
-- A catalog page keeps the id or title order it read with this generation
-- (catalog_pages.c, "kept orders"). Local to the replica: not hashed, not in
-- snapshots.
CREATE TABLE IF NOT EXISTS book_set (generation INTEGER NOT NULL);
INSERT INTO book_set (generation) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM book_set);

-- One row per stock decrement, keyed by the purchase's idempotency key, so
-- a retried decrement returns the first answer and takes nothing more. The
-- order service's sweep reads them in log order (pos) to find a copy taken
-- whose order was never recorded (docs/REPLICATION.md, "The purchase flow").
CREATE TABLE IF NOT EXISTS purchases (
    key         TEXT    PRIMARY KEY,
    book_id     INTEGER NOT NULL,
    title       TEXT    NOT NULL,
    price_cents INTEGER NOT NULL,
    pos         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS purchases_pos ON purchases (pos);

-- One row per keyed admin write (restock, price, add), so a retry with the
-- same Idempotency-Key returns the first result and changes nothing more.
CREATE TABLE IF NOT EXISTS write_keys (
    key     TEXT    PRIMARY KEY,
    book_id INTEGER NOT NULL,
    pos     INTEGER NOT NULL
);

-- One row per purchase refused because its book was out of stock (409),
-- keyed like purchases by the idempotency key, so that the first decision
-- for a key is final: a repeat of the key gets the same refusal, even if
-- the book was restocked since. Without it, two overlapping attempts of one
-- purchase (a hedged or timed-out call still running) could answer "out of
-- stock" to the client and take a copy for the same key (docs/REPLICATION.md,
-- "Refusals are final"). Replicated, hashed and in snapshots; not read by
-- the order sweep, which looks for copies taken.
CREATE TABLE IF NOT EXISTS refusals (
    key     TEXT    PRIMARY KEY,
    book_id INTEGER NOT NULL,
    status  INTEGER NOT NULL,
    reason  TEXT    NOT NULL,
    pos     INTEGER NOT NULL
);
