/* rc_log.c - what the protocol core asks of a log: the epoch at a position
 * (as far as the log still knows it) and Raft's up-to-date comparison. */
#include "rc.h"

int64_t rc_log_epoch(const rc_log *log, int64_t pos)
{
    if (pos == 0)
        return 0;
    if (pos == log->base)
        return log->base_epoch;
    if (pos < log->base || pos > log->last)
        return -2;
    if (pos == log->last)
        return log->last_epoch;
    return log->epoch_at(log->ctx, pos);
}

int rc_log_up_to_date(const rc_log *log, int64_t last_epoch, int64_t last)
{
    if (RC_MUTANT_IS(6)) /* wrong: any log wins an election */
        return 1;
    if (last_epoch != log->last_epoch)
        return last_epoch > log->last_epoch;
    return last >= log->last;
}
