/* warren-init: PID 1 of a sandbox. Starts the command, reaps every zombie, forwards signals, and
 * exits with the command's status (128+signal when a signal killed it). */
#ifndef WARREN_INIT_H
#define WARREN_INIT_H

#include <signal.h>
#include <sys/types.h>

/* Signals init forwards to the command; blocked in init before the fork. */
void init_block_signals(sigset_t *set);
__attribute__((noreturn)) void init_loop(pid_t command, const sigset_t *set);

#endif
