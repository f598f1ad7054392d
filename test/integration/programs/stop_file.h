/* The round a test asks a looping program to end at: the number in
 * STOP_FILE, or -1 while there is none (the file is absent or not a number
 * yet). Read afresh each time, so a test can make a run as long as it needs,
 * and a restored copy stops where the original did. */
#pragma once
#include <stdio.h>

static long read_stop_round(const char* path) {
  if (!path) return -1;
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  long s = -1;
  if (fscanf(f, "%ld", &s) != 1) s = -1;
  fclose(f);
  return s;
}
