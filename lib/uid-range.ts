/**
 * How many host uids one sandbox's user namespace maps: root inside is `base`, uid n is
 * `base + n`. The sandbox layer leases one such range per sandbox; commit maps a kept upper's
 * owners back through it. One number, so both always agree.
 */
export const UID_RANGE = 65536;
