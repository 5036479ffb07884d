/* rc.h - the replication protocol as an I/O-free core ("rc": replication
 * core). No sockets, no SQLite, no clock, no randomness: every function
 * takes the replica's state, the input (a message, a tick with the time, a
 * proposal, a finished disk write) and fills in what to do (state to make
 * durable, messages to send, entries to append, permission to serve). The
 * same objects run in the services (fcgi/repl.c drives them over libcurl
 * and SQLite) and in the deterministic simulator (tests/sim/), which drives
 * them over a simulated network and disk under millions of fault schedules.
 *
 * THE PROTOCOL (Raft as in Ongaro's dissertation, with the differences
 * Bazar needs; docs/REPLICATION.md tells the reasoning):
 *
 *  Roles and epochs. Each replica is a follower, a candidate or the leader
 *  ("primary") of an epoch (Raft's term). Durable per replica: the epoch,
 *  the vote cast in it, the known leader, the "recovering" flag, and the
 *  log. Positions are dense from 1; the log may be trimmed or replaced by a
 *  snapshot below `base` (whose epoch is still known).
 *
 *  Entries are applied when appended (speculatively), not when committed:
 *  the leader decides a write ("is a copy left?") on a state that includes
 *  its own uncommitted entries, so no two decrements can take the same
 *  copy. Reads therefore need the `safe` rule below, and a replica whose
 *  log diverges from the leader's cannot truncate: it installs a snapshot.
 *
 *  Append (rc_append.c). The leader sends [next..] with the position and
 *  epoch of the entry before (prev). A follower accepts only if it holds
 *  that entry with that epoch; below its base it asks for [base+1..] so the
 *  check is always real. A mismatch at or below its last position means
 *  divergence: it stops serving and installs the leader's snapshot.
 *
 *  Commit. The leader counts acknowledgements from its own epoch only; an
 *  entry is committed when a majority holds it and it is of the leader's
 *  epoch (earlier entries commit with it: Raft's Figure 8 rule).
 *
 *  Safe position (what may be acknowledged and read). `safe` <= commit is
 *  the highest position that is committed and held by every replica that
 *  may still hold a read lease: for each peer, either it acknowledged the
 *  position, or every lease it may hold without it has run out. A lease
 *  from a message with head < p was granted at most lease_ms (+ drift)
 *  after that message's stamp, and every message stamped after p was
 *  appended has head >= p; so the wait for p is until min(append time of p,
 *  last stamp to the peer) + lease_ms + drift_ms. Counting the last *sent*
 *  message, not the last acknowledged one, covers a heartbeat delivered
 *  but whose answer was lost. The leader calls the position that far
 *  `held`: no replica can serve a read of the state before it any more.
 *
 *  Release. Copies of the state outside the replicas (the front ends'
 *  lookup cache) must be gone before a read can see a newer state, or a
 *  reader could see the new state and then the old one. So `safe` =
 *  min(held, released): the driver releases a held position once it has
 *  invalidated what the entries up to it change (after reading `held`,
 *  never before: an invalidation done while the old state is still
 *  readable can be refilled). An invalidation that fails is waited out:
 *  a position held for release_ms (how long an outside copy may be used
 *  after it was read, plus the drift bound) is released anyway. Writes
 *  are acknowledged at `safe`.
 *
 *  Read leases (rc_lease.c, §6.4). The leader holds a lease until
 *  lease_ms after the stamp of its latest round a majority acknowledged. A
 *  follower that is caught up to a message's head holds one until
 *  min(stamp + lease_ms, the leader's own lease in that message): a leader
 *  cut off with a minority cannot keep its followers serving. A replica
 *  answers a read of an item whose version (the position of its last
 *  change) is at most the `safe` it knows, and only within its lease.
 *
 *  Elections (rc_elect.c). A follower that heard nothing valid from a
 *  leader for election_ms + jitter first asks for pre-votes (would you vote
 *  for me in epoch+1?); with a majority it stands: epoch+1, votes for
 *  itself. A
 *  replica votes once per epoch, only for a log at least as complete as its
 *  own (last epoch, then last position), never while it has heard from a
 *  live leader within election_ms, and never while recovering. The winner
 *  appends a no-op in its epoch. lease_ms + drift_ms < election_ms makes
 *  every lease of the old leader end before a voter of the new one votes.
 *  A leader that steps down because it cannot lead waits its leases out
 *  itself and then hands over, so its successor need not wait election_ms
 *  (rc_tick, "Handover").
 *
 *  Lost disks. A replica that restarts without its database is
 *  "recovering": it does not vote or stand until it has caught up to a
 *  leader's commit position, because votes and acknowledgements it gave
 *  before the loss may be what made a write committed.
 *
 *  Snapshots (rc_snap.c). Served only by the leader of the requester's
 *  epoch; installed only from the known leader of the installer's epoch,
 *  and never behind the installer's safe position.
 *
 * INVARIANTS (checked by the simulator after every step, docs/REPLICATION.md):
 *  I1 at most one leader per epoch;
 *  I2 log matching: two logs with an entry of the same position and epoch
 *     hold the same entries up to it;
 *  I3 committed entries never change (state machine safety), and every
 *     replica's prefix up to its known safe position is the committed one;
 *  I4 leader completeness: a leader of epoch e holds every entry that
 *     leaders of earlier epochs committed;
 *  I5 every acknowledged write is committed;
 *  I6 reads are linearizable against the sequential model;
 *  I7 stock never negative, states equal the model at equal positions, and
 *     all replicas converge once faults heal.
 *
 * Known-wrong variants for the simulator's own test (`make sim-mutants`)
 * are compiled in with -DRC_MUTANT=k; RC_MUTANT_IS(k) marks each place. */
#ifndef RC_H
#define RC_H

#include <stddef.h>
#include <stdint.h>

#ifndef RC_MUTANT
#define RC_MUTANT 0
#endif
#define RC_MUTANT_IS(k) (RC_MUTANT == (k))

#define RC_MAX_REPLICAS 7
#define RC_RING 1024 /* append times the leader remembers */
#define RC_HELD_RING 64 /* times at which `held` advanced */

typedef struct rc_config {
    int n;                /* replicas, ids 1..n */
    int64_t heartbeat_ms; /* leader's idle message period */
    int64_t lease_ms;     /* read lease length */
    int64_t election_ms;  /* silence before standing; > lease_ms + drift_ms */
    int64_t drift_ms;     /* bound on the clock offset between any two replicas */
    int64_t batch;        /* entries per append message at most */
    int64_t release_ms;   /* 0: entries are readable once held; else how long
                           * after being held an entry the driver did not
                           * release becomes readable anyway (see "Release") */
} rc_config;

/* Checks a configuration; returns NULL or what is wrong. */
const char *rc_config_check(const rc_config *c);

/* What the core reads of a replica's log (the driver's storage). Entries
 * base+1..last are held; base is where it was trimmed or a snapshot put it
 * (0 and epoch 0 for an untouched log). epoch_at is asked only for
 * base < pos <= last and returns -1 on a storage error. */
typedef struct rc_log {
    int64_t base, base_epoch, last, last_epoch;
    int64_t (*epoch_at)(void *ctx, int64_t pos);
    void *ctx;
} rc_log;

/* The epoch of the entry at pos as this log knows it: the base's epoch at
 * base, 0 at position 0, -2 when pos is below base or past last. */
int64_t rc_log_epoch(const rc_log *log, int64_t pos);

/* 1 when a log ending at (last_epoch, last) is at least as complete as
 * `log` (Raft's up-to-date rule: later last epoch, or same and longer). */
int rc_log_up_to_date(const rc_log *log, int64_t last_epoch, int64_t last);

/* A pre-candidate asks whether it would win before it moves the epoch
 * (Raft's pre-vote, section 9.6), so a replica that was only cut off, or a
 * cluster whose network comes up late, forces no needless election. */
typedef enum { RC_FOLLOWER, RC_CANDIDATE, RC_LEADER, RC_PRECANDIDATE } rc_role;

/* Durable: must be on disk before any message sent after the change. */
typedef struct rc_hard {
    int64_t epoch;      /* highest epoch seen */
    int64_t voted_for;  /* vote cast in epoch, 0 none */
    int64_t leader;     /* leader of epoch once known, 0 unknown */
    int64_t recovering; /* 1: restarted without its disk; no votes until caught up */
} rc_hard;

typedef struct rc_peer {
    int64_t match;      /* highest position known to equal ours (this epoch) */
    int64_t next;       /* first position to send */
    int64_t stamp_ms;   /* stamp of the last lease-granting message sent (answered or not) */
    int64_t acked_ms;   /* stamp of the latest message it acknowledged */
    int need_snapshot;  /* it asked for a snapshot */
} rc_peer;

/* One replica's protocol state. Volatile fields are lost on a crash
 * (rc_restart resets them); `hard` is the durable part. */
typedef struct rc_node {
    rc_config cfg;
    int self;
    rc_hard hard;
    int hard_dirty;        /* set by the core: persist `hard` before sending */
    rc_role role;
    /* follower and candidate */
    int64_t heard_ms;      /* election timer: last valid leader message or vote granted */
    int64_t leader_ms;     /* local time of the last valid leader message (0: none) */
    int64_t jitter_ms;     /* added to election_ms; the driver picks it (random) */
    int64_t lease_until;   /* local time until which reads may be served */
    int64_t safe;          /* highest position known safe (see above) */
    int64_t matched;       /* follower: highest position its log is known to share
                            * with the leader of its epoch */
    int64_t acked;         /* follower: highest position it acknowledged to that leader
                            * (a snapshot never takes it below: the leader counted it) */
    int64_t leader_head;   /* follower: the highest head that leader has sent */
    int need_snapshot;     /* the log diverged or is unreachable: install one */
    int cannot_lead;       /* set by the driver: this replica cannot serve clients
                            * (its client pool hangs), so it must not lead */
    int64_t handover_at;   /* a leader that stepped down because it cannot lead:
                            * local time when every lease it granted has run
                            * out and it hands over (0: none) */
    int64_t handover_from; /* follower told by its leader to stand at once (and
                            * candidate so elected): that leader, else 0 */
    unsigned votes;        /* (pre-)candidate: bit i set when replica i granted */
    /* leader */
    int64_t commit;        /* highest committed position */
    int64_t lead_since_ms; /* when it became leader (local time) */
    int64_t first_own;     /* position of its first entry of its own epoch */
    rc_peer peer[RC_MAX_REPLICAS + 1];
    int64_t ring_pos[RC_RING], ring_ms[RC_RING]; /* recent (position, append time) */
    int ring_len, ring_head;
    int64_t floor_pos, floor_ms; /* positions <= floor_pos were appended by floor_ms */
    int64_t held;          /* leader: committed and on every lease holder */
    int64_t released;      /* leader: the driver's side effects are done up to here */
    int64_t held_pos[RC_HELD_RING], held_ms[RC_HELD_RING]; /* when `held` reached where */
    int held_len;
} rc_node;

/* ---- messages ---- */

typedef enum {
    RC_APPEND = 1,  /* leader -> follower: entries and heartbeat */
    RC_APPEND_REPLY,
    RC_VOTE,        /* candidate -> all */
    RC_VOTE_REPLY,
    RC_SNAP_REQ,    /* follower -> leader */
    RC_SNAP,        /* leader -> follower: the whole state at (last, last_epoch) */
    RC_PREVOTE,     /* pre-candidate -> all: would you vote for me in epoch? */
    RC_PREVOTE_REPLY,
    RC_HANDOVER     /* a leader that stepped down -> its most complete follower:
                     * stand now, my leases have run out */
} rc_kind;

typedef enum {
    RC_OK = 0,       /* appended (or held) through `match` */
    RC_GAP,          /* send from hint+1 */
    RC_DIVERGED,     /* the follower needs a snapshot */
    RC_STALE,        /* the sender's epoch is old; `epoch` is newer */
    RC_REFUSED       /* not accepted (second leader in an epoch, recovering, ...) */
} rc_result;

typedef struct rc_msg {
    rc_kind kind;
    int from, to;
    int64_t epoch;
    /* RC_APPEND: entries prev_pos+1 .. prev_pos+n with epochs entry_epoch[] */
    int64_t prev_pos, prev_epoch, n, head, commit, safe, sent_ms;
    int64_t leader_lease;    /* the leader's own lease end; 0: this message grants none */
    int snapshot;            /* the leader's log no longer reaches prev_pos */
    const int64_t *entry_epoch;
    /* RC_APPEND_REPLY */
    rc_result result;
    int64_t match, hint, echo_ms;
    /* RC_VOTE / RC_VOTE_REPLY */
    int64_t last_pos, last_epoch;
    int granted;
    int64_t handover;        /* RC_VOTE: the leader that handed over to the
                              * candidate (0: an ordinary election) */
    /* RC_SNAP: the leader's state at (last_pos, last_epoch) */
} rc_msg;

/* ---- lifecycle (rc_node.c) ---- */

/* A replica's state at start: `hard` as read from disk (zeroed with
 * recovering = 1 when the disk was lost), safe = 0, follower. The initial
 * leader of epoch 1 (a fresh cluster) is named by hard.leader. */
void rc_init(rc_node *nd, const rc_config *cfg, int self, const rc_hard *hard,
             const rc_log *log, int64_t now);

/* After a crash: everything but `hard` (and the log) is lost. */
void rc_restart(rc_node *nd, const rc_log *log, int64_t now);

/* Takes the leader's role of the current epoch (after winning, or for the
 * named first leader); the caller appends a no-op of its epoch. */
void rc_become_leader(rc_node *nd, const rc_log *log, int64_t now);

/* Adopts a newer epoch (leader unknown, or `leader`): steps down. A leader
 * that steps down neither votes nor stands for election_ms after `now`. */
void rc_adopt_epoch(rc_node *nd, int64_t epoch, int64_t leader, int64_t now);

/* ---- append (rc_append.c): both sides ---- */

/* Leader: the append message for peer i (to fill entry epochs, the caller
 * reads positions prev_pos+1 .. prev_pos+n from its log). A heartbeat when
 * the peer is caught up. It grants a lease only to a peer that answered
 * within 2 * heartbeat_ms, and then records its stamp. m->snapshot is set when
 * the log no longer reaches the peer's next position. */
void rc_leader_build(rc_node *nd, const rc_log *log, int i, int64_t now, rc_msg *m);

/* Leader: a new entry was appended at `pos` (its own epoch) at `now`. */
void rc_leader_appended(rc_node *nd, int64_t pos, int64_t now);

/* Leader: an append reply arrived. Returns 1 when it stepped down. */
int rc_leader_on_reply(rc_node *nd, const rc_msg *r, int64_t now);

/* Leader: advances commit, held and safe (call after replies and on
 * ticks). Returns the new safe position. */
int64_t rc_leader_advance(rc_node *nd, const rc_log *log, int64_t now);

/* Leader: the driver did, after reading `held` (the value it passes as
 * `upto`), what must happen before the entries up to it are read (the
 * catalog's cache invalidations). Safe may now reach it. */
void rc_leader_release(rc_node *nd, int64_t upto);

/* Follower, step 1: what to do with an append. Sets *skip (entries of the
 * message already held) and *take (entries to append after them, at
 * log->last+1 ...). May change `hard` (hard_dirty). Returns RC_OK (then
 * append `take` entries and call rc_follower_appended), or the result to
 * answer with at once through rc_follower_reply. */
rc_result rc_follower_check(rc_node *nd, const rc_log *log, const rc_msg *m, int64_t now,
                            int64_t *skip, int64_t *take);

/* Follower, step 2: fills the reply `r` to append `m` after `result` (the
 * log as it is now) and, on RC_OK, takes the lease and the safe position
 * the message grants. */
void rc_follower_reply(rc_node *nd, const rc_log *log, const rc_msg *m, rc_result result,
                       int64_t now, rc_msg *r);

/* Follower: the leader of `epoch` says its safe position is `safe` (asked
 * by a read that found a change newer than what this replica knows is
 * safe). Takes it as far as its own log is known to match the leader's. */
void rc_follower_learn_safe(rc_node *nd, int64_t epoch, int64_t safe);

/* ---- elections (rc_elect.c): both sides ---- */

/* A tick: returns 1 when the replica's election timer ran out and it now
 * asks for pre-votes (send rc_vote_request to every peer; then pick a new
 * jitter_ms), 2 when it stood at once (a single replica: it wins by
 * itself, call rc_become_leader), 3 when it hands over (send rc_handover),
 * 4 when it stood because its leader handed over to it (hard changed:
 * persist it, then send rc_vote_request to every peer), else 0. A leader
 * that had a majority and has not heard from one for election_ms steps
 * down (returns 0), and so does one that cannot_lead, which never stands
 * either.
 *
 * Handover. A leader that steps down because it cannot lead (its clients
 * cannot reach it) is alive, and knows what its followers only guess after
 * election_ms of silence: it is gone, and when the last lease it granted
 * ends (its last lease-granting stamp + lease_ms + drift_ms). At that
 * moment it tells its most complete follower to stand at once, without a
 * pre-vote. That candidate's vote requests name it, and a voter that knows
 * it as the leader of its newest epoch, asked for the next one, and holds
 * no lease itself, votes without waiting election_ms since it last heard
 * from it: no other leader exists in that epoch, and every lease of that
 * one has run out, which is all the wait protects. */
int rc_tick(rc_node *nd, int64_t now);

/* The handover message of a leader that stepped down: to the follower
 * with the highest known match. Returns 0 (and sends nothing) when no
 * follower is known to have acknowledged anything. */
int rc_handover(const rc_node *nd, rc_msg *m);

/* Follower: its leader handed over to it. Takes it (the next rc_tick
 * stands and returns 4) when it comes from the leader of its epoch and it
 * may stand; returns 1 when taken. */
int rc_on_handover(rc_node *nd, const rc_msg *m, int64_t now);

/* A (pre-)candidacy ended without a win: its round is over (every peer
 * answered or timed out) and it is still a (pre-)candidate - a split vote,
 * or peers that did not answer. The leader is as silent as before, so the
 * next try comes after backoff_ms (the caller draws it at random, so that
 * two who split do not split again), not after a whole election_ms; hearing
 * from a leader or granting a vote meanwhile restarts the full timer as
 * always. Nothing else changes: voters still refuse while they hear a
 * leader, so leases are kept as before. */
void rc_election_lost(rc_node *nd, int64_t now, int64_t backoff_ms);

/* The request this (pre-)candidate sends: RC_PREVOTE for epoch+1 without
 * moving its own, or RC_VOTE for its epoch. */
void rc_vote_request(const rc_node *nd, const rc_log *log, int to, rc_msg *m);

/* Voter: decides a pre-vote (changes nothing) or a vote (may change
 * `hard`: hard_dirty) and fills the reply. */
void rc_on_vote(rc_node *nd, const rc_log *log, const rc_msg *m, int64_t now, rc_msg *r);

/* (Pre-)candidate: a reply. Returns 1 when it just won (it is the leader:
 * append a no-op of its epoch and call rc_leader_appended), 2 when a
 * majority of pre-votes made it stand (hard changed: persist it, then send
 * rc_vote_request to every peer), else 0. */
int rc_on_vote_reply(rc_node *nd, const rc_log *log, const rc_msg *r, int64_t now);

/* ---- snapshots (rc_snap.c) ---- */

/* 1 when this replica may serve a snapshot to the requester `m`. */
int rc_snap_may_serve(const rc_node *nd, const rc_msg *m);

/* 1 when a snapshot `m` (kind RC_SNAP, last_pos/last_epoch) may replace
 * this replica's state: it needs one, `m` comes from the known leader of
 * its epoch, and it is not behind what it knows is safe nor behind what it
 * acknowledged. The caller then installs it and calls rc_snap_installed
 * (which drops the lease: reads wait for the next message). */
int rc_snap_may_install(const rc_node *nd, const rc_msg *m);
void rc_snap_installed(rc_node *nd, int64_t pos);

/* ---- leases and reads (rc_lease.c) ---- */

/* The leader's own lease end: lease_ms after the stamp of the latest round
 * a majority acknowledged (0 when none). */
int64_t rc_leader_lease(const rc_node *nd);

/* 1 when an item whose last change is at position `version` may be read
 * here now. */
int rc_may_read(const rc_node *nd, int64_t version, int64_t now);

/* ---- forwarding ---- */

/* Where a write that reaches this replica at local time `now` goes: 0 to
 * decide here (it is the leader), the leader's id, RC_FORWARD_NONE when no
 * leader is known, or RC_FORWARD_SILENT when the leader has sent nothing
 * for RC_FORWARD_SILENCE (two heartbeats): it is most likely stopped, cut
 * off or dead, and a write forwarded there would wait for as long as that
 * lasts. Both answer 503 at once, and the caller tries again (with its
 * idempotency key) after a short back-off, by when there may be a new
 * leader or word from the old one. Routing only: no answer of this
 * function can make a write unsafe. */
#define RC_FORWARD_NONE (-1)
#define RC_FORWARD_SILENT (-2)
#define RC_FORWARD_SILENCE(cfg) (2 * (int64_t)(cfg)->heartbeat_ms)
int rc_forward_to(const rc_node *nd, int64_t now);

#endif
