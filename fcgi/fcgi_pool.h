/* fcgi_pool.h - the processes of one FastCGI pool, as its host sees them.
 *
 * deploy/service.sh writes the pid of the pool's supervisor (multiwatch,
 * which leads the pool's process group) to var/run/NAME.pid; the processes
 * that serve requests are its children. A pid file whose process has no
 * children (a pool started without multiwatch) names the servers itself. */
#ifndef FCGI_POOL_H
#define FCGI_POOL_H

#include <stddef.h>
#include <sys/types.h>

/* Fills out (at most cap) with the serving processes of the pool whose pid
 * file is path. Returns how many, or -1 when the file cannot be read. */
int fcgi_pool_pids(const char *path, pid_t *out, size_t cap);

/* 1 when pid exists and is neither stopped nor a zombie; else 0. */
int fcgi_pid_runs(pid_t pid);

#endif
