#include "cli/units.h"

#include <cstdio>

namespace fusedmoe::cli {

namespace {

std::string scaled(double value, const char* const units[], int count, double step) {
  int unit = 0;
  while (unit + 1 < count && value >= step) {
    value /= step;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof(text), value < 10.0 ? "%.2f %s" : value < 100.0 ? "%.1f %s" : "%.0f %s",
                value, units[unit]);
  return text;
}

}  // namespace

std::string format_seconds(double seconds) {
  char text[64];
  if (seconds < 1e-3) {
    std::snprintf(text, sizeof(text), "%.1f us", seconds * 1e6);
  } else if (seconds < 1.0) {
    std::snprintf(text, sizeof(text), "%.2f ms", seconds * 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.2f s", seconds);
  }
  return text;
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  return scaled(bytes, kUnits, 5, 1000.0);
}

std::string format_flops(double flops) {
  static const char* const kUnits[] = {"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP"};
  return scaled(flops, kUnits, 5, 1000.0);
}

}  // namespace fusedmoe::cli
