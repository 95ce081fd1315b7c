// What `fusedmoe run` prints: the request, each check's metrics and verdict, and the roofline.
#pragma once

#include <string>
#include <vector>

#include "cli/run_request.h"
#include "common/layer_runner.h"
#include "common/metrics.h"
#include "common/random_layer.h"

namespace fusedmoe::cli {

void print_run_header(const RunRequest& request, const tools::BackendChoice& choice);

// "check 1   <what>" then the metrics and "-> PASS (rel L2 ... <= ...)".
void print_check(const char* label, const std::string& what, const tools::ErrorMetrics& metrics,
                 const tools::Verdict& verdict);

// Floor on the H100 reference ceilings for the experts `ids` hit, and the share `run_seconds`
// reaches (labelled as not a performance number for the CPU reference).
void print_roofline(const RunRequest& request, const tools::RandomLayer& layer,
                    const std::vector<int32_t>& ids, double run_seconds, bool on_cuda);

}  // namespace fusedmoe::cli
