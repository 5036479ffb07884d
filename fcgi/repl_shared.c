/* repl_shared.c - state shared by all processes of one replica: a small
 * mmap'd file, reset and initialised by the first process of the replica
 * to start, with a robust process-shared mutex. */
#include "repl_shared.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t repl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int init_mutex(pthread_mutex_t *mu)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return -1;
    int rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
             pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
             pthread_mutex_init(mu, &a) != 0;
    pthread_mutexattr_destroy(&a);
    return rc ? -1 : 0;
}

repl_shared *repl_shared_open(const char *var_dir, const char *service, int id,
                              int (*init)(repl_shared *s, void *arg), void *arg, char *err,
                              size_t errlen)
{
    char path[512];
    snprintf(path, sizeof path, "%s/run/%s-%d.alive", var_dir, service, id);
    /* Every process of the replica holds a shared lock on the alive file for
     * its whole life; getting it exclusively means nobody else is alive, so
     * this is a (re)start of the replica. The fd is never closed. */
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    int first = flock(lock, LOCK_EX | LOCK_NB) == 0;
    snprintf(path, sizeof path, "%s/run/%s-%d.shm", var_dir, service, id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, sizeof(repl_shared)) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        close(lock);
        return NULL;
    }
    repl_shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (s == MAP_FAILED) {
        snprintf(err, errlen, "mmap %s: %s", path, strerror(errno));
        close(lock);
        return NULL;
    }
    if (first) {
        memset(s, 0, sizeof *s);
        if (init_mutex(&s->mu) != 0 || init(s, arg) != 0) {
            if (!err[0])
                snprintf(err, errlen, "cannot initialise %s", path);
            munmap(s, sizeof *s);
            close(lock);
            return NULL;
        }
    }
    /* The first process downgrades (the others wait here until it has). */
    if (flock(lock, LOCK_SH) != 0) {
        snprintf(err, errlen, "flock %s: %s", path, strerror(errno));
        munmap(s, sizeof *s);
        close(lock);
        return NULL;
    }
    return s;
}

void repl_shared_lock(repl_shared *s)
{
    if (pthread_mutex_lock(&s->mu) == EOWNERDEAD)
        pthread_mutex_consistent(&s->mu);
}

void repl_shared_unlock(repl_shared *s)
{
    pthread_mutex_unlock(&s->mu);
}

