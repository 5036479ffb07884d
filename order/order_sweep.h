/* order_sweep.h - records the orders that a crash left unrecorded: copies
 * the catalog took (its committed purchase records) with no order. */
#ifndef ORDER_SWEEP_H
#define ORDER_SWEEP_H

/* At the order primary, at most once per SWEEP_EVERY_MS per process: reads
 * the catalog's committed purchase records past the replicated sweep
 * position, records an order for each one that has none, and replicates
 * the new position. Bounded work per call; errors only end the pass early
 * (the next pass starts where this one stopped). `rid`: X-Request-Id. */
void order_sweep(const char *rid);

/* fcgi_app_opts.idle for the client pool's processes: a sweep between
 * requests, so orphaned copies get their orders whether or not purchases
 * arrive, and no purchase waits for a sweep. */
void order_sweep_idle(void *unused);

#endif
