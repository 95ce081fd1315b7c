// Host work split over the machine's cores, for loops whose iterations are independent (each reads
// shared inputs and writes only its own outputs), so that the result does not depend on how many
// threads run or which one takes which index: the CPU reference's rows, the test layers' experts.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace fusedmoe::detail {

// Workers parallel_for(count, min_per_worker, ...) runs: up to hardware_concurrency, at most one
// per min_per_worker indices (a thread costs more than a few short iterations), at least one.
inline int64_t parallel_workers(int64_t count, int64_t min_per_worker) {
  const int64_t hardware = std::max<int64_t>(1, std::thread::hardware_concurrency());
  return std::max<int64_t>(1, std::min(hardware, count / std::max<int64_t>(1, min_per_worker)));
}

// Runs body(worker, i) for every i in [0, count) on parallel_workers(count, min_per_worker)
// workers (the calling thread is worker 0), each taking the next index from a shared counter.
// `worker` (< parallel_workers) lets a body keep per-worker scratch. A worker stops at its first
// exception; once all have stopped, the first worker's exception (in worker order) is rethrown.
template <typename Body>
void parallel_for(int64_t count, int64_t min_per_worker, const Body& body) {
  if (count <= 0) return;
  const int64_t workers = parallel_workers(count, min_per_worker);
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
  const auto work = [&](int64_t worker) {
    try {
      for (int64_t i = next++; i < count; i = next++) body(worker, i);
    } catch (...) {
      errors[static_cast<size_t>(worker)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (int64_t worker = 1; worker < workers; ++worker) threads.emplace_back(work, worker);
  work(0);
  for (std::thread& thread : threads) thread.join();
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace fusedmoe::detail
