/* rc_node.c - a replica's protocol state: start, restart after a crash,
 * adopting a newer epoch, taking the leader's role, the configuration
 * check and where writes go. */
#include <string.h>

#include "rc.h"

const char *rc_config_check(const rc_config *c)
{
    if (c->n < 1 || c->n > RC_MAX_REPLICAS)
        return "replica count must be 1..7";
    if (c->heartbeat_ms < 1 || c->heartbeat_ms * 2 > c->lease_ms)
        return "need 1 <= heartbeat_ms and heartbeat_ms * 2 <= lease_ms";
    if (c->drift_ms < 0 || c->lease_ms + c->drift_ms >= c->election_ms)
        return "need lease_ms + drift_ms < election_ms (clock drift bound)";
    if (c->batch < 1)
        return "batch must be positive";
    if (c->release_ms < 0)
        return "release_ms must not be negative";
    return NULL;
}

void rc_init(rc_node *nd, const rc_config *cfg, int self, const rc_hard *hard,
             const rc_log *log, int64_t now)
{
    memset(nd, 0, sizeof *nd);
    nd->cfg = *cfg;
    nd->self = self;
    nd->hard = *hard;
    /* The leader of a fresh cluster's first epoch is named, not elected
     * (nobody else can lead epoch 1), and a single replica leads itself.
     * Any other start is a follower's. */
    if (!hard->recovering &&
        ((hard->epoch == 1 && hard->leader == self && log->last == 0) || cfg->n == 1)) {
        nd->heard_ms = now;
        rc_become_leader(nd, log, now);
        return;
    }
    rc_restart(nd, log, now);
}

void rc_become_leader(rc_node *nd, const rc_log *log, int64_t now)
{
    nd->role = RC_LEADER;
    if (nd->hard.leader != nd->self) {
        nd->hard.leader = nd->self;
        nd->hard_dirty = 1;
    }
    nd->lead_since_ms = now;
    nd->first_own = log->last + 1;
    nd->commit = nd->held = nd->released = nd->safe;
    nd->held_len = 0;
    nd->lease_until = 0;
    nd->votes = 0;
    nd->handover_at = nd->handover_from = 0;
    memset(nd->peer, 0, sizeof nd->peer);
    for (int i = 1; i <= nd->cfg.n; i++)
        nd->peer[i].next = log->last + 1;
    nd->ring_len = nd->ring_head = 0;
    /* Entries it inherits: every lease that a replica without them may
     * hold came from an older leader and ran out before this one's voters
     * voted (lease_ms + drift_ms < election_ms), so no wait applies. */
    nd->floor_pos = log->last;
    nd->floor_ms = 0;
}

void rc_restart(rc_node *nd, const rc_log *log, int64_t now)
{
    rc_config cfg = nd->cfg;
    rc_hard hard = nd->hard;
    int self = nd->self, dirty = nd->hard_dirty;
    int64_t jitter = nd->jitter_ms;
    memset(nd, 0, sizeof *nd);
    nd->cfg = cfg;
    nd->self = self;
    nd->hard = hard;
    nd->hard_dirty = dirty;
    nd->jitter_ms = jitter;
    nd->heard_ms = now; /* a full election period before standing */
    nd->role = RC_FOLLOWER;
    (void)log;
    if (hard.leader == self) {
        nd->hard.leader = 0; /* the role is lost with the process */
        nd->hard_dirty = 1;
    }
}

void rc_adopt_epoch(rc_node *nd, int64_t epoch, int64_t leader, int64_t now)
{
    if (epoch > nd->hard.epoch) {
        nd->hard.epoch = epoch;
        nd->hard.voted_for = 0;
        nd->hard.leader = leader;
        nd->hard_dirty = 1;
        nd->handover_at = nd->handover_from = 0; /* a newer epoch is under way */
    } else if (epoch == nd->hard.epoch && leader && nd->hard.leader != leader) {
        nd->hard.leader = leader;
        nd->hard_dirty = 1;
    } else {
        return;
    }
    nd->matched = nd->acked = nd->leader_head = 0; /* a new leader's log is matched anew */
    if (nd->role == RC_LEADER) {
        /* Leases it granted may run for lease_ms + drift_ms yet: like a
         * follower that just heard from a leader, it neither votes nor
         * stands for election_ms (itself re-elected at once would not
         * wait for them: found by the simulator, seed 2271). */
        nd->lease_until = 0;
        nd->leader_ms = nd->heard_ms = now;
    }
    nd->role = RC_FOLLOWER;
    nd->votes = 0;
}

int rc_forward_to(const rc_node *nd, int64_t now)
{
    if (nd->role == RC_LEADER)
        return 0;
    if (nd->hard.leader < 1 || nd->hard.leader == nd->self)
        return RC_FORWARD_NONE;
    if (nd->leader_ms > 0 && now - nd->leader_ms > RC_FORWARD_SILENCE(&nd->cfg))
        return RC_FORWARD_SILENT;
    return (int)nd->hard.leader;
}
