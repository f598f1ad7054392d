/* A 64-bit mixing function (splitmix64's finalizer): the test programs hash
 * their work with it so that their output depends only on their arguments. */
#pragma once
#include <stdint.h>

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
