/* fcgi_log.h - one family of levelled logging macros shared by every program. */
#ifndef FCGI_LOG_H
#define FCGI_LOG_H

enum fcgi_log_level { FCGI_LOG_DEBUG = 0, FCGI_LOG_INFO, FCGI_LOG_WARN, FCGI_LOG_ERROR };

/* Opens `path` for appending (NULL: stderr) and names the program in every
 * line. Returns 0, or -1 if the file cannot be opened (logging then goes to
 * stderr). */
int fcgi_log_open(const char *program, const char *path, int level);
void fcgi_log_close(void);

/* Parses "debug|info|warn|error"; returns the level or -1. */
int fcgi_log_level_parse(const char *s);

/* The request id printed on every line until it is changed (NULL or "": "-").
 * The string is copied (at most 63 bytes). */
void fcgi_log_set_request_id(const char *rid);

/* Writes one line: "2026-11-21T19:36:41.123Z LEVEL program[pid] rid msg". */
void fcgi_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...) fcgi_log_write(FCGI_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) fcgi_log_write(FCGI_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) fcgi_log_write(FCGI_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) fcgi_log_write(FCGI_LOG_ERROR, __VA_ARGS__)

#endif
