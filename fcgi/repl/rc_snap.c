/* rc_snap.c - snapshots, both sides: only the leader of the requester's
 * epoch serves one; a replica installs one only from the known leader of
 * its epoch, when it needs one, and never behind what it knows is safe. */
#include "rc.h"

int rc_snap_may_serve(const rc_node *nd, const rc_msg *m)
{
    if (RC_MUTANT_IS(10)) /* wrong: any replica serves its state */
        return 1;
    return nd->role == RC_LEADER && m->epoch == nd->hard.epoch;
}

int rc_snap_may_install(const rc_node *nd, const rc_msg *m)
{
    if (RC_MUTANT_IS(10))
        return nd->need_snapshot;
    return nd->need_snapshot && m->epoch == nd->hard.epoch && m->from == nd->hard.leader &&
           m->last_pos >= nd->safe && m->last_pos >= nd->acked;
}

void rc_snap_installed(rc_node *nd, int64_t pos)
{
    nd->need_snapshot = 0;
    nd->matched = pos; /* the leader's own state up to pos */
    nd->lease_until = 0; /* no read until a message says it is caught up */
}
