/* rc_lease.c - read leases (Ongaro's dissertation, section 6.4, with a
 * bounded clock drift) and the read rule: within a lease, and only items
 * whose last change is at or below the safe position. */
#include <stdint.h>

#include "rc.h"

int64_t rc_leader_lease(const rc_node *nd)
{
    if (nd->role != RC_LEADER)
        return 0;
    if (nd->cfg.n == 1)
        return INT64_MAX;
    /* The (majority-1)-th latest acknowledged stamp among the peers. */
    int64_t a[RC_MAX_REPLICAS];
    int k = 0;
    for (int i = 1; i <= nd->cfg.n; i++)
        if (i != nd->self)
            a[k++] = nd->peer[i].acked_ms;
    for (int x = 1; x < k; x++)
        for (int y = x; y > 0 && a[y] > a[y - 1]; y--) {
            int64_t t = a[y];
            a[y] = a[y - 1];
            a[y - 1] = t;
        }
    int64_t stamp = a[nd->cfg.n / 2 + 1 - 2];
    return stamp > 0 ? stamp + nd->cfg.lease_ms : 0;
}

int rc_may_read(const rc_node *nd, int64_t version, int64_t now)
{
    if (nd->hard.recovering || nd->need_snapshot)
        return 0;
    int64_t lease = nd->role == RC_LEADER ? rc_leader_lease(nd) : nd->lease_until;
    if (now >= lease && !RC_MUTANT_IS(4)) /* wrong: reads without a lease */
        return 0;
    if (version > nd->safe && !RC_MUTANT_IS(5)) /* wrong: uncommitted state is read */
        return 0;
    return 1;
}
