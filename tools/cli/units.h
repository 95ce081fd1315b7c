// Human-readable numbers for reports: "231 us", "12.4 MB", "1.2 GFLOP".
#pragma once

#include <string>

namespace fusedmoe::cli {

std::string format_seconds(double seconds);
std::string format_bytes(double bytes);
std::string format_flops(double flops);

}  // namespace fusedmoe::cli
