/* rc_append.c - the append mechanism, both sides: the leader builds
 * messages, takes replies and advances commit and safe; the follower
 * checks the previous entry, appends, and takes the lease and the safe
 * position a message grants. The rules are in rc.h's design comment. */
#include <string.h>

#include "rc.h"

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}
static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* ---- leader ---- */

void rc_leader_build(rc_node *nd, const rc_log *log, int i, int64_t now, rc_msg *m)
{
    rc_peer *p = &nd->peer[i];
    memset(m, 0, sizeof *m);
    m->kind = RC_APPEND;
    m->from = nd->self;
    m->to = i;
    m->epoch = nd->hard.epoch;
    p->next = p->next < 1 ? 1 : p->next > log->last + 1 ? log->last + 1 : p->next;
    m->prev_pos = p->next - 1;
    m->prev_epoch = rc_log_epoch(log, m->prev_pos);
    if (m->prev_epoch < 0) {
        m->snapshot = 1; /* trimmed below: the peer needs a snapshot */
        m->prev_epoch = 0;
    } else {
        m->n = min64(log->last - m->prev_pos, nd->cfg.batch);
    }
    m->head = log->last;
    m->commit = nd->commit;
    m->safe = nd->safe;
    m->sent_ms = now;
    /* Only a peer that answered within two heartbeats gets a lease (and so
     * must be waited for): messages to a silent one grant none, so a dead
     * peer stops holding writes up once its last lease has run out. */
    if (p->acked_ms + 2 * nd->cfg.heartbeat_ms >= now) {
        m->leader_lease = rc_leader_lease(nd);
        p->stamp_ms = now;
    }
}

void rc_leader_appended(rc_node *nd, int64_t pos, int64_t now)
{
    if (nd->ring_len > 0) {
        int newest = (nd->ring_head + nd->ring_len - 1) % RC_RING;
        if (nd->ring_ms[newest] == now) {
            nd->ring_pos[newest] = pos;
            return;
        }
    }
    if (nd->ring_len == RC_RING) { /* the oldest becomes the floor */
        nd->floor_pos = nd->ring_pos[nd->ring_head];
        nd->floor_ms = nd->ring_ms[nd->ring_head];
        nd->ring_head = (nd->ring_head + 1) % RC_RING;
        nd->ring_len--;
    }
    int at = (nd->ring_head + nd->ring_len) % RC_RING;
    nd->ring_pos[at] = pos;
    nd->ring_ms[at] = now;
    nd->ring_len++;
}

/* The highest position appended at or before `t` (local time). */
static int64_t appended_by(const rc_node *nd, int64_t t)
{
    for (int k = nd->ring_len - 1; k >= 0; k--) {
        int at = (nd->ring_head + k) % RC_RING;
        if (nd->ring_ms[at] <= t)
            return nd->ring_pos[at];
    }
    return nd->floor_ms <= t ? nd->floor_pos : 0;
}

int rc_leader_on_reply(rc_node *nd, const rc_msg *r, int64_t now)
{
    (void)now;
    if (r->epoch > nd->hard.epoch) {
        rc_adopt_epoch(nd, r->epoch, 0, now);
        return 1;
    }
    if (nd->role != RC_LEADER || r->from < 1 || r->from > nd->cfg.n || r->from == nd->self)
        return 0;
    if (r->epoch != nd->hard.epoch && !RC_MUTANT_IS(2)) /* wrong: a stale epoch's ack counts */
        return 0;
    rc_peer *p = &nd->peer[r->from];
    if (r->result == RC_OK || r->result == RC_GAP || r->result == RC_DIVERGED)
        p->acked_ms = max64(p->acked_ms, r->echo_ms); /* it accepts this leader */
    switch (r->result) {
    case RC_OK:
        p->match = max64(p->match, r->match);
        p->next = max64(p->next, r->match + 1);
        p->need_snapshot = 0;
        break;
    case RC_GAP:
        p->next = r->hint + 1;
        break;
    case RC_DIVERGED:
        p->need_snapshot = 1;
        break;
    default:
        break;
    }
    return 0;
}

/* Raises `held` to `bound` and remembers when, dropping the records that
 * are released; when the record is full the two oldest merge (the later
 * time counts for both: a release only comes later). */
static void note_held(rc_node *nd, int64_t bound, int64_t now)
{
    if (bound <= nd->held)
        return;
    nd->held = bound;
    if (nd->cfg.release_ms == 0)
        return;
    int k = 0;
    while (k < nd->held_len && nd->held_pos[k] <= nd->released)
        k++;
    memmove(nd->held_pos, nd->held_pos + k, (size_t)(nd->held_len - k) * sizeof nd->held_pos[0]);
    memmove(nd->held_ms, nd->held_ms + k, (size_t)(nd->held_len - k) * sizeof nd->held_ms[0]);
    nd->held_len -= k;
    if (nd->held_len == RC_HELD_RING) {
        memmove(nd->held_pos, nd->held_pos + 1, (RC_HELD_RING - 1) * sizeof nd->held_pos[0]);
        memmove(nd->held_ms, nd->held_ms + 1, (RC_HELD_RING - 1) * sizeof nd->held_ms[0]);
        nd->held_len--;
    }
    nd->held_pos[nd->held_len] = bound;
    nd->held_ms[nd->held_len] = now;
    nd->held_len++;
}

int64_t rc_leader_advance(rc_node *nd, const rc_log *log, int64_t now)
{
    if (nd->role != RC_LEADER)
        return nd->safe;
    /* Commit: the majority-th highest match, if it is of this epoch. */
    int64_t m[RC_MAX_REPLICAS + 1];
    int k = 0;
    for (int i = 1; i <= nd->cfg.n; i++)
        m[k++] = i == nd->self ? log->last : nd->peer[i].match;
    for (int a = 1; a < k; a++) /* insertion sort, descending */
        for (int b = a; b > 0 && m[b] > m[b - 1]; b--) {
            int64_t t = m[b];
            m[b] = m[b - 1];
            m[b - 1] = t;
        }
    int64_t q = m[nd->cfg.n / 2];
    if (q > nd->commit && (q >= nd->first_own || RC_MUTANT_IS(11)))
        nd->commit = q;
    /* Safe: committed, and on every replica that may hold a lease. */
    int64_t wait = nd->cfg.lease_ms + nd->cfg.drift_ms, bound = nd->commit;
    int64_t released = appended_by(nd, now - wait);
    for (int i = 1; i <= nd->cfg.n; i++) {
        const rc_peer *p = &nd->peer[i];
        if (i == nd->self || p->match >= bound)
            continue;
        int64_t last_msg = RC_MUTANT_IS(8) ? p->acked_ms : p->stamp_ms; /* wrong: acked */
        if (last_msg + wait <= now)
            continue; /* whatever lease it had is over */
        bound = min64(bound, max64(p->match, released));
    }
    note_held(nd, bound, now);
    /* Release: what the driver released, or what has been held long enough
     * that every outside copy read before it has expired. */
    if (nd->cfg.release_ms == 0 || RC_MUTANT_IS(13)) /* wrong: no release wait */
        nd->released = nd->held;
    else
        for (int h = 0; h < nd->held_len && nd->held_ms[h] + nd->cfg.release_ms <= now; h++)
            nd->released = max64(nd->released, nd->held_pos[h]);
    int64_t safe = min64(nd->held, nd->released);
    if (safe > nd->safe)
        nd->safe = safe;
    return nd->safe;
}

void rc_leader_release(rc_node *nd, int64_t upto)
{
    if (nd->role == RC_LEADER)
        nd->released = max64(nd->released, min64(upto, nd->held));
}

/* ---- follower ---- */

void rc_follower_learn_safe(rc_node *nd, int64_t epoch, int64_t safe)
{
    if (nd->role != RC_FOLLOWER || epoch != nd->hard.epoch)
        return;
    int64_t upto = RC_MUTANT_IS(12) ? safe : min64(safe, nd->matched); /* wrong: trusts it all */
    nd->safe = max64(nd->safe, upto);
}

static rc_result diverged(rc_node *nd)
{
    nd->need_snapshot = 1;
    nd->matched = 0;
    return RC_DIVERGED;
}

rc_result rc_follower_check(rc_node *nd, const rc_log *log, const rc_msg *m, int64_t now,
                            int64_t *skip, int64_t *take)
{
    *skip = *take = 0;
    if (m->epoch < nd->hard.epoch)
        return RC_STALE;
    /* One leader per epoch: an append of our epoch from another replica
     * than its known leader (or to a leader) is refused, never merged. */
    if (m->epoch == nd->hard.epoch &&
        (nd->role == RC_LEADER || (nd->hard.leader && nd->hard.leader != m->from)))
        return RC_REFUSED;
    rc_adopt_epoch(nd, m->epoch, m->from, now);
    nd->role = RC_FOLLOWER;
    nd->heard_ms = nd->leader_ms = now;
    nd->leader_head = max64(nd->leader_head, m->head);
    /* "Snapshot" means the leader's log no longer reaches prev. A replica
     * that has moved past prev since (it installed one) says where it is. */
    if (m->snapshot && !nd->need_snapshot && log->last > m->prev_pos)
        return RC_GAP;
    if (m->snapshot || nd->need_snapshot)
        return diverged(nd);
    int64_t prev = m->prev_pos, k = 0;
    if (prev > log->last)
        return RC_GAP;
    if (RC_MUTANT_IS(1)) { /* wrong: the previous entry is taken on trust */
        k = prev < log->base ? min64(m->n, log->base - prev) : 0;
    } else if (prev < log->base) {
        /* Below the base only the base's epoch can be checked: the message
         * must reach it, else the leader resends from base+1 - unless the
         * leader's log ends below our base: then our base entry is not the
         * leader's (never committed) and only a snapshot helps (seed
         * 1796227402, 5 replicas: it asked for base+1 for ever). */
        if (prev + m->n < log->base)
            return nd->leader_head < log->base ? diverged(nd) : RC_GAP;
        k = log->base - prev;
        if (m->entry_epoch[k - 1] != log->base_epoch)
            return diverged(nd);
    } else {
        int64_t e = rc_log_epoch(log, prev);
        if (e == -1)
            return RC_REFUSED; /* storage error: nothing changes */
        if (e != m->prev_epoch)
            return diverged(nd);
    }
    for (; k < m->n; k++) {
        int64_t pos = prev + 1 + k;
        if (pos > log->last)
            break;
        int64_t e = rc_log_epoch(log, pos);
        if (e == -1)
            return RC_REFUSED;
        if (e != m->entry_epoch[k])
            return diverged(nd);
    }
    *skip = k;
    *take = m->n - k;
    return RC_OK;
}

void rc_follower_reply(rc_node *nd, const rc_log *log, const rc_msg *m, rc_result result,
                       int64_t now, rc_msg *r)
{
    (void)now;
    memset(r, 0, sizeof *r);
    r->kind = RC_APPEND_REPLY;
    r->from = nd->self;
    r->to = m->from;
    r->epoch = nd->hard.epoch;
    r->result = result;
    r->echo_ms = m->sent_ms;
    r->hint = result == RC_GAP && m->prev_pos < log->base ? log->base : log->last;
    if (result != RC_OK)
        return;
    int64_t matched = m->prev_pos + m->n; /* our log equals the leader's up to here */
    r->match = matched;
    nd->matched = max64(nd->matched, matched);
    nd->acked = max64(nd->acked, matched);
    nd->safe = max64(nd->safe, min64(m->safe, matched));
    if (nd->hard.recovering && matched >= m->commit) {
        nd->hard.recovering = 0; /* it holds all the leader has committed again */
        nd->hard_dirty = 1;
    }
    if (matched >= m->head && !nd->need_snapshot && !nd->hard.recovering) {
        int64_t lease = m->sent_ms + nd->cfg.lease_ms;
        if (!RC_MUTANT_IS(7)) /* wrong: a cut-off leader keeps its followers serving */
            lease = min64(lease, m->leader_lease);
        nd->lease_until = max64(nd->lease_until, lease);
    }
}
