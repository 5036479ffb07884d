/* rc_elect.c - elections, both sides: the pre-vote round when the leader
 * falls silent, standing, voting (once per epoch, for a log at least as
 * complete, never while a leader is alive or while recovering), counting
 * votes, and the leader's step-down when it has lost its majority. */
#include <string.h>

#include "rc.h"

static int majority(const rc_node *nd, unsigned votes)
{
    return __builtin_popcount(votes) * 2 > nd->cfg.n;
}

/* Moves to a new epoch as a candidate that votes for itself. */
static void stand(rc_node *nd, int64_t now)
{
    nd->hard.epoch++;
    nd->hard.voted_for = nd->self;
    nd->hard.leader = 0;
    nd->hard_dirty = 1;
    nd->role = RC_CANDIDATE;
    nd->votes = 1u << nd->self;
    nd->heard_ms = now;
    nd->handover_from = 0;
    /* Its state is its log applied: if it wins, that log is the one (it
     * holds every committed entry), so it needs no snapshot. */
    nd->need_snapshot = 0;
}

int rc_tick(rc_node *nd, int64_t now)
{
    if (nd->role == RC_LEADER && nd->cannot_lead) {
        /* Its clients cannot reach it: step down, and hand over once the
         * leases it gave have run out (see rc.h). Until then, like any
         * leader that steps down, it neither votes nor stands. */
        int64_t last = 0;
        for (int i = 1; i <= nd->cfg.n; i++)
            if (i != nd->self && nd->peer[i].stamp_ms > last)
                last = nd->peer[i].stamp_ms;
        nd->role = RC_FOLLOWER;
        nd->lease_until = 0;
        nd->heard_ms = nd->leader_ms = now;
        nd->handover_at = RC_MUTANT_IS(17) ? now /* wrong: hands over with leases running */
                                           : (last > 0 ? last : now) + nd->cfg.lease_ms +
                                                 nd->cfg.drift_ms;
        return 0;
    }
    if (nd->role == RC_LEADER) {
        /* Cut off from the majority it had for a whole election period:
         * step down, so that clients go elsewhere (a new leader may exist).
         * One that never reached a majority (at start, before the network
         * is up) keeps the role until a newer epoch deposes it: stepping
         * down would only force an election once the network is up. */
        int64_t lease = rc_leader_lease(nd);
        if (nd->cfg.n > 1 && lease > 0 && now - (lease - nd->cfg.lease_ms) > nd->cfg.election_ms) {
            nd->role = RC_FOLLOWER;
            nd->lease_until = 0;
            nd->heard_ms = now;
            nd->leader_ms = 0;
        }
        return 0;
    }
    if (nd->handover_at && now >= nd->handover_at) {
        nd->handover_at = 0;
        if (nd->role == RC_FOLLOWER && nd->hard.leader == nd->self)
            return 3; /* no leader since: it hands over */
    }
    if ((nd->hard.recovering && !RC_MUTANT_IS(9)) || nd->cannot_lead)
        return 0;
    if (nd->handover_from && nd->role == RC_FOLLOWER) {
        int64_t from = nd->handover_from;
        stand(nd, now);
        nd->handover_from = from; /* its vote requests name the leader that handed over */
        return 4;
    }
    if (now - nd->heard_ms < nd->cfg.election_ms + nd->jitter_ms)
        return 0;
    if (nd->cfg.n == 1) {
        stand(nd, now);
        return 2;
    }
    nd->role = RC_PRECANDIDATE;
    nd->votes = 1u << nd->self;
    nd->heard_ms = now;
    return 1;
}

void rc_election_lost(rc_node *nd, int64_t now, int64_t backoff_ms)
{
    if (nd->role != RC_PRECANDIDATE && nd->role != RC_CANDIDATE)
        return;
    /* rc_tick stands again once now - heard_ms reaches election_ms + jitter. */
    nd->heard_ms = now - (nd->cfg.election_ms + nd->jitter_ms) + backoff_ms;
}

int rc_handover(const rc_node *nd, rc_msg *m)
{
    int to = 0;
    for (int i = 1; i <= nd->cfg.n; i++)
        if (i != nd->self && nd->peer[i].acked_ms > 0 &&
            (!to || nd->peer[i].match > nd->peer[to].match))
            to = i;
    memset(m, 0, sizeof *m);
    m->kind = RC_HANDOVER;
    m->from = nd->self;
    m->to = to;
    m->epoch = nd->hard.epoch;
    return to;
}

int rc_on_handover(rc_node *nd, const rc_msg *m, int64_t now)
{
    (void)now;
    if (m->epoch != nd->hard.epoch || m->from != nd->hard.leader || m->from == nd->self ||
        nd->role != RC_FOLLOWER || nd->hard.recovering || nd->cannot_lead || nd->need_snapshot)
        return 0;
    nd->handover_from = m->from;
    return 1;
}

void rc_vote_request(const rc_node *nd, const rc_log *log, int to, rc_msg *m)
{
    memset(m, 0, sizeof *m);
    m->kind = nd->role == RC_PRECANDIDATE ? RC_PREVOTE : RC_VOTE;
    m->from = nd->self;
    m->to = to;
    m->epoch = nd->hard.epoch + (nd->role == RC_PRECANDIDATE);
    m->last_pos = log->last;
    m->last_epoch = log->last_epoch;
    m->handover = nd->role == RC_CANDIDATE ? nd->handover_from : 0;
}

void rc_on_vote(rc_node *nd, const rc_log *log, const rc_msg *m, int64_t now, rc_msg *r)
{
    int pre = m->kind == RC_PREVOTE;
    memset(r, 0, sizeof *r);
    r->kind = pre ? RC_PREVOTE_REPLY : RC_VOTE_REPLY;
    r->from = nd->self;
    r->to = m->from;
    r->epoch = nd->hard.epoch;
    r->last_pos = m->epoch; /* the epoch asked about, for the asker to match */
    if ((nd->hard.recovering && !RC_MUTANT_IS(9)) || m->epoch < nd->hard.epoch ||
        (pre && m->epoch == nd->hard.epoch))
        return;
    /* Never while a leader is alive: its leases (and those it gave) must
     * have run out before any new leader can exist. A handover says they
     * have: the candidate names the leader of this voter's newest epoch,
     * which waited them out before it handed over (rc.h), and this voter
     * holds none itself. */
    int handed = !pre && m->handover > 0 && m->handover == nd->hard.leader &&
                 m->epoch == nd->hard.epoch + 1 && now >= nd->lease_until;
    if (nd->role == RC_LEADER ||
        (!handed && nd->leader_ms && now - nd->leader_ms < nd->cfg.election_ms))
        return;
    if (pre) { /* would vote: a newer epoch, a log as complete; nothing changes */
        r->granted = rc_log_up_to_date(log, m->last_epoch, m->last_pos);
        return;
    }
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
        nd->role = RC_FOLLOWER;
        return 0;
    }
    if (!r->granted || r->from < 1 || r->from > nd->cfg.n)
        return 0;
    if (r->kind == RC_PREVOTE_REPLY) {
        if (nd->role != RC_PRECANDIDATE || r->last_pos != nd->hard.epoch + 1)
            return 0;
        nd->votes |= 1u << r->from;
        if (!majority(nd, nd->votes))
            return 0;
        stand(nd, now);
        return 2;
    }
    if (nd->role != RC_CANDIDATE || r->epoch != nd->hard.epoch)
        return 0;
    nd->votes |= 1u << r->from;
    if (!majority(nd, nd->votes))
        return 0;
    rc_become_leader(nd, log, now);
    return 1;
}
