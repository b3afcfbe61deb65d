/* Stage timings of a sandbox's setup, for finding where spawn time goes: set WARREN_TRACE=1 in
 * the runner's environment and the child prints "trace <pid> <stage> <us since the last mark>"
 * to the spawner's stderr. Off by default: one branch per mark. */
#ifndef WARREN_TRACE_H
#define WARREN_TRACE_H

extern int trace_enabled;
/* the spawner's stderr, kept open past the child's own stdio and fd closing when tracing */
extern int trace_fd;
void trace_mark(const char *stage);

#endif
