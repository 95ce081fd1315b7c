// The subcommands of the `fusedmoe` tool. Each takes the arguments after its name, prints to
// stdout and returns the process exit status; bad arguments throw tools::UsageError.
#pragma once

#include <string>
#include <vector>

namespace fusedmoe::cli {

// Exit statuses shared by every subcommand.
constexpr int kExitPass = 0;
constexpr int kExitFail = 1;          // verification failed
constexpr int kExitUsage = 2;         // bad arguments, or a device that cannot run the request
constexpr int kExitRuntimeError = 3;  // the library or CUDA reported an error

int models_command(const std::vector<std::string>& args);
int run_command(const std::vector<std::string>& args);
int bench_command(const std::vector<std::string>& args);

}  // namespace fusedmoe::cli
