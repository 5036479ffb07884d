/* test_rc_handover.c - unit tests of the protocol core's handover
 * (fcgi/repl/rc.h, "Handover"): a primary that steps down because it
 * cannot lead hands over only once every lease it granted has run out, and
 * a voter skips the wait for a silent leader only for a handover from the
 * leader of its own epoch, and only while it holds no lease itself. The
 * simulator exercises handovers among its faults; these pin the two rules
 * down, and the known-wrong variant RC_MUTANT=17 (hand over at once) fails
 * the first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../fcgi/repl/rc.h" /* the asan build drops -Ifcgi */

static const rc_config CFG = {.n = 3, .heartbeat_ms = 100, .lease_ms = 500, .election_ms = 700,
                              .drift_ms = 100, .batch = 64, .release_ms = 0};

static int64_t epoch_one(void *ctx, int64_t pos)
{
    (void)ctx;
    return pos == 0 ? 0 : 1;
}

/* Five entries of epoch 1, on every replica. */
static const rc_log LOG5 = {.base = 0, .base_epoch = 0, .last = 5, .last_epoch = 1,
                            .epoch_at = epoch_one, .ctx = NULL};

/* Replica 1, leader of epoch 1 since t=0, whose two followers answered at
 * t=900 (replica 3 holds all five entries, replica 2 four) and were sent
 * lease-granting heartbeats at t=1000. */
static void leader_with_leases(rc_node *nd)
{
    rc_hard hard = {.epoch = 1, .leader = 1};
    rc_init(nd, &CFG, 3, &hard, &LOG5, 0); /* as a follower, then: */
    nd->self = 1;
    rc_become_leader(nd, &LOG5, 0);
    for (int i = 2; i <= 3; i++) {
        nd->peer[i].acked_ms = 900;
        nd->peer[i].match = i == 3 ? 5 : 4;
        rc_msg m;
        rc_leader_build(nd, &LOG5, i, 1000, &m);
        assert_int_equal(nd->peer[i].stamp_ms, 1000);
        assert_true(m.leader_lease > 0);
    }
}

static void test_a_primary_that_cannot_lead_hands_over_once_its_leases_are_over(void **state)
{
    (void)state;
    rc_node nd;
    leader_with_leases(&nd);
    nd.cannot_lead = 1;
    assert_int_equal(rc_tick(&nd, 1050), 0);
    assert_int_equal(nd.role, RC_FOLLOWER);
    /* The heartbeats of t=1000 granted leases until 1000 + 500 (+ 100 of
     * drift between clocks): no handover before. */
    for (int64_t t = 1060; t < 1600; t += 10)
        if (rc_tick(&nd, t) != 0)
            fail_msg("handed over at t=%lld, while a lease granted at t=1000 may run",
                     (long long)t);
    assert_int_equal(rc_tick(&nd, 1600), 3);
    rc_msg m;
    assert_int_equal(rc_handover(&nd, &m), 3); /* the follower holding the most */
    assert_int_equal(m.kind, RC_HANDOVER);
    assert_int_equal(m.epoch, 1);
    assert_int_equal(m.from, 1);
    assert_int_equal(rc_tick(&nd, 1700), 0); /* once */
}

static void test_no_handover_once_a_newer_epoch_is_under_way(void **state)
{
    (void)state;
    rc_node nd;
    leader_with_leases(&nd);
    nd.cannot_lead = 1;
    assert_int_equal(rc_tick(&nd, 1050), 0);
    rc_adopt_epoch(&nd, 2, 2, 1200); /* the followers elected replica 2 meanwhile */
    assert_int_equal(rc_tick(&nd, 1600), 0);
}

/* Replica 3, follower of leader 1 in epoch 1: it heard from it at t=1000,
 * with a lease until t=1500. */
static void follower(rc_node *nd)
{
    rc_hard hard = {.epoch = 1, .leader = 1};
    rc_init(nd, &CFG, 3, &hard, &LOG5, 0);
    nd->leader_ms = nd->heard_ms = 1000;
    nd->lease_until = 1500;
}

static int vote(rc_node *nd, int64_t epoch, int64_t handover, int64_t now)
{
    rc_msg m = {.kind = RC_VOTE, .from = 2, .to = 3, .epoch = epoch, .last_pos = 5,
                .last_epoch = 1, .handover = handover},
           r;
    rc_on_vote(nd, &LOG5, &m, now, &r);
    return r.granted;
}

static void test_a_voter_skips_the_wait_only_for_its_leaders_handover_without_a_lease(void **state)
{
    (void)state;
    rc_node nd;
    follower(&nd);
    assert_false(vote(&nd, 2, 0, 1550)); /* an ordinary election: it heard leader 1 lately */
    follower(&nd);
    assert_false(vote(&nd, 2, 1, 1400)); /* a handover, but its own lease runs until 1500 */
    follower(&nd);
    assert_false(vote(&nd, 2, 2, 1550)); /* handed over by one that is not its leader */
    follower(&nd);
    assert_false(vote(&nd, 3, 1, 1550)); /* not the epoch after its own */
    follower(&nd);
    assert_true(vote(&nd, 2, 1, 1550));
    assert_int_equal(nd.hard.epoch, 2);
    assert_int_equal(nd.hard.voted_for, 2);
}

static void test_a_follower_takes_a_handover_only_from_its_leader(void **state)
{
    (void)state;
    rc_node nd;
    rc_msg m = {.kind = RC_HANDOVER, .from = 2, .to = 3, .epoch = 1};
    follower(&nd);
    assert_false(rc_on_handover(&nd, &m, 1600)); /* 2 is not its leader */
    m.from = 1;
    m.epoch = 2;
    assert_false(rc_on_handover(&nd, &m, 1600)); /* not its epoch */
    m.epoch = 1;
    nd.hard.recovering = 1;
    assert_false(rc_on_handover(&nd, &m, 1600)); /* it may not stand */
    nd.hard.recovering = 0;
    assert_true(rc_on_handover(&nd, &m, 1600));
    /* It stands at the next tick, long before its election timer, and its
     * vote requests name the leader that handed over. */
    assert_int_equal(rc_tick(&nd, 1601), 4);
    assert_int_equal(nd.role, RC_CANDIDATE);
    assert_int_equal(nd.hard.epoch, 2);
    rc_msg req;
    rc_vote_request(&nd, &LOG5, 1, &req);
    assert_int_equal(req.kind, RC_VOTE);
    assert_int_equal(req.handover, 1);
    assert_int_equal(req.epoch, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_primary_that_cannot_lead_hands_over_once_its_leases_are_over),
        cmocka_unit_test(test_no_handover_once_a_newer_epoch_is_under_way),
        cmocka_unit_test(test_a_voter_skips_the_wait_only_for_its_leaders_handover_without_a_lease),
        cmocka_unit_test(test_a_follower_takes_a_handover_only_from_its_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
