/* User namespaces by uid range, made once and kept: a sandbox joins the one of its range. */
#ifndef WARREN_USERNS_H
#define WARREN_USERNS_H

#include <stdint.h>

#include "error.h"

/* An fd of a user namespace mapping 0..count-1 to base..base+count-1 (uids and gids). The fd stays
 * owned by the cache; clone children inherit it. */
int userns_get(uint32_t base, uint32_t count, struct werr *err);

#endif
