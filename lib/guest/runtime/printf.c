/* A small vsnprintf for assertion messages: %d %i %u %x %X %p %s %c %%, with l/ll/z, width and 0. */
#include "guest.h"

struct out {
  char *buf;
  size_t size;
  size_t len;
};

static void put(struct out *o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len] = c;
  o->len++;
}

static void put_number(struct out *o, uint64_t value, int base, int upper, int negative, int width, char pad) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = digits[value % (uint64_t)base];
    value /= (uint64_t)base;
  } while (value);
  if (negative) {
    if (pad == '0') put(o, '-');
    width--;
  }
  for (int i = n; i < width; i++) put(o, pad);
  if (negative && pad != '0') put(o, '-');
  while (n) put(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  struct out o = {buf, size, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(&o, *fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0, longs = 0;
    if (*fmt == '0') pad = '0', fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l' || *fmt == 'z') longs++, fmt++;
    switch (*fmt) {
      case 'd':
      case 'i': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        put_number(&o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, 0, v < 0, width, pad);
        break;
      }
      case 'u': put_number(&o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, 0, width, pad); break;
      case 'x': put_number(&o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, 0, width, pad); break;
      case 'X': put_number(&o, longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 1, 0, width, pad); break;
      case 'p':
        put(&o, '0');
        put(&o, 'x');
        put_number(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, 0, 0, width, pad);
        break;
      case 's': {
        const char *s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        while (*s) put(&o, *s++);
        break;
      }
      case 'c': put(&o, (char)va_arg(ap, int)); break;
      case '%': put(&o, '%'); break;
      case '\0': fmt--; break;
      default: put(&o, '%'); put(&o, *fmt); break;
    }
  }
  if (size) buf[o.len < size ? o.len : size - 1] = '\0';
  return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
