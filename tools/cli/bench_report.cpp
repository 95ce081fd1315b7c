#include "cli/bench_report.h"

#include "common/tool_error.h"

namespace fusedmoe::cli {
namespace {

constexpr const char* kCsvHeader =
    "shape,model,tp,entry,tokens,experts_hit,sets,samples,time_us,fastest_us,slowest_us,floor_us,"
    "pct_floor,tflops,tbps,bound,read_bw,bf16_rate,status\n";

// Quoted when it holds a comma or a quote (statuses carry error messages).
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '\n') c = ' ';
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return quoted + "\"";
}

}  // namespace

void print_ceilings(const tools::MeasuredCeilings& measured, const tools::CeilingOptions& options) {
  const tools::Ceilings& ceilings = measured.ceilings;
  std::printf("ceilings  %s\n", ceilings.name.c_str());
  std::printf("          read  %.3f TB/s  (bf16 sum over %.1f GiB, median of %d; spread %.3f-%.3f)\n",
              ceilings.read_bytes_per_second * 1e-12,
              static_cast<double>(options.read_bytes) / (1 << 30), options.repetitions,
              measured.read_min * 1e-12, measured.read_max * 1e-12);
  std::printf("          bf16  %.1f TF/s  (cuBLAS %lld^3, random data, median of %d; spread "
              "%.1f-%.1f)\n",
              ceilings.bf16_flops_per_second * 1e-12, static_cast<long long>(options.gemm_size),
              options.repetitions, measured.rate_min * 1e-12, measured.rate_max * 1e-12);
}

void print_table_header() {
  std::printf("%-18s %6s %7s %4s %10s %10s %7s %7s %6s %4s  %s\n", "shape", "M", "hit", "sets",
              "time us", "floor us", "%floor", "TF/s", "TB/s", "by", "status");
}

void print_table_row(const BenchRow& row) {
  const std::string label = row.shape.label();
  if (row.status != "ok" && row.measurement.samples == 0) {
    std::printf("%-18s %6lld  %s\n", label.c_str(), static_cast<long long>(row.tokens),
                row.status.c_str());
  } else {
    const tools::BenchMeasurement& m = row.measurement;
    const tools::BenchFigures& f = row.figures;
    std::printf("%-18s %6lld %7.1f %4d %10.1f %10.1f %6.1f%% %7.1f %6.2f %4s  %s\n", label.c_str(),
                static_cast<long long>(row.tokens), m.experts_hit, m.sets, m.seconds * 1e6,
                f.floor_seconds * 1e6, f.percent_of_floor, f.tflops, f.tbytes,
                f.memory_bound ? "mem" : "mma", row.status.c_str());
  }
  std::fflush(stdout);
}

BenchCsv::BenchCsv(const std::string& path) {
  file_ = std::fopen(path.c_str(), "w");
  if (file_ == nullptr) throw tools::UsageError("--csv '" + path + "': cannot open for writing");
  std::fputs(kCsvHeader, file_);
  std::fflush(file_);
}

BenchCsv::~BenchCsv() {
  if (file_ != nullptr) std::fclose(file_);
}

void BenchCsv::write(const BenchRow& row, const tools::Ceilings& ceilings) {
  const tools::BenchMeasurement& m = row.measurement;
  const tools::BenchFigures& f = row.figures;
  const bool measured = m.samples > 0;
  std::fprintf(file_, "%s,%s,%d,%s,%lld,", csv_field(row.shape.label()).c_str(),
               csv_field(row.shape.model).c_str(), row.shape.tp, tools::bench_entry_name(row.entry),
               static_cast<long long>(row.tokens));
  if (measured) {
    std::fprintf(file_, "%.2f,%d,%lld,%.3f,%.3f,%.3f,%.3f,%.2f,%.2f,%.4f,%s,", m.experts_hit, m.sets,
                 static_cast<long long>(m.samples), m.seconds * 1e6, m.fastest_seconds * 1e6,
                 m.slowest_seconds * 1e6, f.floor_seconds * 1e6, f.percent_of_floor, f.tflops,
                 f.tbytes, f.memory_bound ? "memory" : "compute");
  } else {
    std::fputs(",,,,,,,,,,,", file_);
  }
  std::fprintf(file_, "%.6g,%.6g,%s\n", ceilings.read_bytes_per_second,
               ceilings.bf16_flops_per_second, csv_field(row.status).c_str());
  std::fflush(file_);
}

}  // namespace fusedmoe::cli
