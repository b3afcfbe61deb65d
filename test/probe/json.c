/* A streaming JSON writer with just enough state to place commas: one flag per nesting level. The
 * probe prints a single line, so the writer is a handful of globals rather than an object. */
#include "probe.h"

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 16

static int depth;
static bool has_member[MAX_DEPTH];

static void put_escaped(const unsigned char *s, size_t n);

/* The separator before a value, and its key when inside an object. */
static void begin_value(const char *key) {
  if (depth > 0) {
    if (has_member[depth]) putchar(',');
    has_member[depth] = true;
  }
  if (key) {
    put_escaped((const unsigned char *)key, strlen(key));
    putchar(':');
  }
}

static void open_level(const char *key, char c) {
  begin_value(key);
  putchar(c);
  if (depth < MAX_DEPTH - 1) depth++;
  has_member[depth] = false;
}

void json_begin_object(const char *key) { open_level(key, '{'); }
void json_begin_array(const char *key) { open_level(key, '['); }

void json_end_object(void) {
  putchar('}');
  if (depth > 0) depth--;
}

void json_end_array(void) {
  putchar(']');
  if (depth > 0) depth--;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. Rejects overlong
 * forms, surrogates and code points above U+10FFFF, which strict JSON readers refuse. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t len;
  uint32_t cp;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) len = 2, cp = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef) len = 3, cp = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) len = 4, cp = s[0] & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff) return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return len;
}

static void put_escaped(const unsigned char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c == '\n') {
      fputs("\\n", stdout);
    } else if (c == '\t') {
      fputs("\\t", stdout);
    } else if (c == '\r') {
      fputs("\\r", stdout);
    } else if (c >= 0x20 && c < 0x7f) {
      putchar(c);
    } else if (c >= 0x80) {
      size_t len = utf8_len(s + i, n - i);
      if (len) {
        fwrite(s + i, 1, len, stdout);
        i += len;
        continue;
      }
      printf("\\u%04x", c);
    } else {
      printf("\\u%04x", c);
    }
    i++;
  }
  putchar('"');
}

void json_string_n(const char *key, const char *s, size_t n) {
  begin_value(key);
  put_escaped((const unsigned char *)s, n);
}

void json_string(const char *key, const char *s) {
  if (s) json_string_n(key, s, strlen(s));
  else json_null(key);
}

void json_int(const char *key, long long v) {
  begin_value(key);
  printf("%lld", v);
}

void json_double(const char *key, double v) {
  begin_value(key);
  printf("%.3f", v);
}

void json_bool(const char *key, bool v) {
  begin_value(key);
  fputs(v ? "true" : "false", stdout);
}

void json_null(const char *key) {
  begin_value(key);
  fputs("null", stdout);
}

void json_end_line(void) {
  putchar('\n');
  fflush(stdout);
  depth = 0;
  has_member[0] = false;
}
