// What `fusedmoe bench` prints and writes: the measured ceilings, one table row per (shape, M),
// and the same rows as CSV (written row by row, so a run cut short keeps what it measured).
#pragma once

#include <cstdio>
#include <string>

#include "common/bench_figures.h"
#include "common/bench_runner.h"
#include "common/bench_shapes.h"
#include "common/ceilings.h"

namespace fusedmoe::cli {

void print_ceilings(const tools::MeasuredCeilings& measured, const tools::CeilingOptions& options);

struct BenchRow {
  tools::BenchShape shape;
  tools::BenchEntry entry = tools::BenchEntry::kRouted;
  int64_t tokens = 0;
  tools::BenchMeasurement measurement;  // valid when status == "ok"
  tools::BenchFigures figures;          // valid when status == "ok"
  std::string status = "ok";  // "ok", "nonfinite output: N", "unsupported: ...", "error: ..."
};

void print_table_header();
void print_table_row(const BenchRow& row);

// CSV with a header line; each row is flushed as it is written. Throws UsageError naming --csv
// when the file cannot be opened.
class BenchCsv {
 public:
  explicit BenchCsv(const std::string& path);
  ~BenchCsv();
  BenchCsv(const BenchCsv&) = delete;
  BenchCsv& operator=(const BenchCsv&) = delete;
  void write(const BenchRow& row, const tools::Ceilings& ceilings);

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace fusedmoe::cli
