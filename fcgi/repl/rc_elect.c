/* rc_elect.c - elections, both sides: standing when the leader falls
 * silent, voting (once per epoch, for a log at least as complete, never
 * while a leader is alive or while recovering), and counting votes. */
#include <string.h>

#include "rc.h"

int rc_tick(rc_node *nd, int64_t now)
{
    if (nd->role == RC_LEADER) {
        /* Cut off from a majority for a whole election period: step down,
         * so that clients go elsewhere (a new leader may exist). */
        int64_t heard = rc_leader_lease(nd) - nd->cfg.lease_ms;
        if (nd->cfg.n > 1 && now - (heard > nd->lead_since_ms ? heard : nd->lead_since_ms) >
                                 nd->cfg.election_ms) {
            nd->role = RC_FOLLOWER;
            nd->lease_until = 0;
            nd->heard_ms = now;
            nd->leader_ms = 0;
        }
        return 0;
    }
    if (nd->hard.recovering && !RC_MUTANT_IS(9))
        return 0;
    if (now - nd->heard_ms < nd->cfg.election_ms + nd->jitter_ms)
        return 0;
    nd->hard.epoch++;
    nd->hard.voted_for = nd->self;
    nd->hard.leader = 0;
    nd->hard_dirty = 1;
    nd->role = RC_CANDIDATE;
    nd->votes = 1u << nd->self;
    nd->heard_ms = now;
    /* Its state is its log applied: if it wins, that log is the one
     * (it holds every committed entry), so it needs no snapshot. */
    nd->need_snapshot = 0;
    return nd->cfg.n == 1 ? 2 : 1;
}

void rc_vote_request(const rc_node *nd, const rc_log *log, int to, rc_msg *m)
{
    memset(m, 0, sizeof *m);
    m->kind = RC_VOTE;
    m->from = nd->self;
    m->to = to;
    m->epoch = nd->hard.epoch;
    m->last_pos = log->last;
    m->last_epoch = log->last_epoch;
}

void rc_on_vote(rc_node *nd, const rc_log *log, const rc_msg *m, int64_t now, rc_msg *r)
{
    memset(r, 0, sizeof *r);
    r->kind = RC_VOTE_REPLY;
    r->from = nd->self;
    r->to = m->from;
    r->epoch = nd->hard.epoch;
    if ((nd->hard.recovering && !RC_MUTANT_IS(9)) || m->epoch < nd->hard.epoch)
        return;
    /* Never while a leader is alive: its leases (and those it gave) must
     * have run out before any new leader can exist. */
    if (nd->role == RC_LEADER || (nd->leader_ms && now - nd->leader_ms < nd->cfg.election_ms))
        return;
    if (m->epoch > nd->hard.epoch)
        rc_adopt_epoch(nd, m->epoch, 0, now);
    r->epoch = nd->hard.epoch;
    if (nd->hard.voted_for && nd->hard.voted_for != m->from && !RC_MUTANT_IS(3))
        return;
    if (!rc_log_up_to_date(log, m->last_epoch, m->last_pos))
        return;
    if (nd->hard.voted_for != m->from) {
        nd->hard.voted_for = m->from;
        nd->hard_dirty = 1;
    }
    nd->heard_ms = now;
    r->granted = 1;
}

int rc_on_vote_reply(rc_node *nd, const rc_log *log, const rc_msg *r, int64_t now)
{
    if (r->epoch > nd->hard.epoch) {
        rc_adopt_epoch(nd, r->epoch, 0, now);
        return 0;
    }
    if (nd->role != RC_CANDIDATE || r->epoch != nd->hard.epoch || !r->granted || r->from < 1 ||
        r->from > nd->cfg.n)
        return 0;
    nd->votes |= 1u << r->from;
    if (__builtin_popcount(nd->votes) * 2 <= nd->cfg.n)
        return 0;
    rc_become_leader(nd, log, now);
    return 1;
}
