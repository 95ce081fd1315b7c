// `fusedmoe`: the command line of the fusedmoe library. Subcommands: models, run, bench, version.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/tool_error.h"
#include "fusedmoe/fusedmoe.h"

namespace {

constexpr const char* kSynopsis =
    "usage:\n"
    "  fusedmoe models [--tp N] [--ep N]\n"
    "  fusedmoe run --model NAME --tokens N --format FORMAT [options]\n"
    "  fusedmoe bench [--model A,B@tpN,...] [--tokens 1,8,...] [--entry routed|fused] [options]\n"
    "  fusedmoe version\n"
    "  fusedmoe --help\n";

constexpr const char* kDetails =
    "models   the model presets (shapes, routing, activation, source), sliced for --tp/--ep\n"
    "run      builds a seeded random layer of a preset, runs fusedmoe::moe_fused on the chosen\n"
    "         device, verifies it (against moe_routed / the CPU reference, and against an\n"
    "         independent double-precision evaluation), prints errors, time and % of the\n"
    "         roofline floor, and PASS/FAIL\n"
    "\n"
    "run options:\n"
    "  --model NAME      a preset from `fusedmoe models`\n"
    "  --tokens N        tokens in the batch (M)\n"
    "  --format F        bf16 | fp8 | fp8-block | mxfp4 | nvfp4\n"
    "  --device D        auto (default): CUDA when it can run the layer, else the CPU reference\n"
    "                    (saying why) | cpu | cuda (exit 2 when it cannot run)\n"
    "  --seed S          seed of the random layer (default 0)\n"
    "  --tp N            tensor parallel: each rank holds I/N of every expert (default 1)\n"
    "  --ep N            expert parallel: each rank holds E/N experts (default 1)\n"
    "  --ep-rank R       which block of experts this rank holds (default 0)\n"
    "  --logits T        router logits dtype: fp32 (default) | bf16\n"
    "  --all-experts     generate every local expert (default on CPU: only the routed ones)\n"
    "  --iterations N    timed iterations on CUDA (default 20)\n"
    "\n"
    "bench     times the routed (or fused) entry point on random bf16 layers of the presets as\n"
    "         CUDA-graph replays; prints the ceilings it measures first (read bandwidth, cuBLAS\n"
    "         bf16 rate), then per shape and M: experts hit, time, floor, % of floor, TF/s, TB/s\n"
    "\n"
    "bench options:\n"
    "  --model LIST      presets, each NAME or NAME@tpN (default: the Triton peer's five shapes:\n"
    "                    deepseek-v3, deepseek-v3@tp8, qwen3-30b-a3b, mixtral-8x7b, minimax-m2)\n"
    "  --tp N            TP degree of the --model names without @tp (default 1)\n"
    "  --tokens LIST     token counts (default 1,8,64,256,1024,4096,16384)\n"
    "  --entry E         routed (default: ids/weights from softmax->top-k renormalized, computed\n"
    "                    outside the timed region) | fused (the preset's routing, timed)\n"
    "  --iterations N    timed replay rounds (default 50); --warmup N untimed rounds (default 5)\n"
    "  --rotate N        at most N input sets replayed in turn so that 4x L2 is touched\n"
    "                    (default 8; 1 replays one set, like the peer)\n"
    "  --timing T        isolated (default: record, launch, record, wait, like the peer) |\n"
    "                    back-to-back (replays queued, device time only)\n"
    "  --csv FILE        also write the rows as CSV, row by row\n"
    "  --seed S          seed of the random layer (default 0)\n"
    "  --expert-kernel K auto (default: chosen per call) | weight-streaming | grouped-tile\n"
    "  --tactic N        with a forced --expert-kernel: grouped-tile 0..4 = 64x128, 128x128,\n"
    "                    256x128, 128x256, 64x256 tiles; weight-streaming 0..3 = token tiles 8..64\n"
    "  --gemm2-tactic N  with --expert-kernel grouped-tile: GEMM2's tile on its own (0..4 as\n"
    "                    --tactic; default -1: GEMM1's tile)\n"
    "  --token-gather G  auto (default: token rows read by index where measured faster) |\n"
    "                    copy (dispatch copies them into a per-expert buffer first) |\n"
    "                    index (read by index wherever a kernel can)\n"
    "  --routing-dir D   routed entry: ids and weights from D/<shape>_M<tokens>.bin (int32 ids\n"
    "                    then fp32 weights, [M, top_k] each; bench/peer_routing.py writes the\n"
    "                    Triton peer's) instead of moe_route, the same for every input set\n"
    "\n"
    "exit status: 0 pass, 1 verification failed, 2 bad arguments or device unavailable,\n"
    "             3 runtime error\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace fusedmoe::cli;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "%s\nrun `fusedmoe --help` for the options\n", kSynopsis);
    return kExitUsage;
  }
  const std::string& command = args.front();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--help" || command == "-h" || command == "help") {
    std::printf("fusedmoe: Mixture-of-Experts layers for LLM inference on NVIDIA Hopper (sm_90a)\n\n"
                "%s\n%s",
                kSynopsis, kDetails);
    return kExitPass;
  }
  if (command == "version" || command == "--version") {
    std::printf("fusedmoe %s\n", fusedmoe::version());
    return kExitPass;
  }
  try {
    if (command == "models") return models_command(rest);
    if (command == "run") return run_command(rest);
    if (command == "bench") return bench_command(rest);
    throw fusedmoe::tools::UsageError("unknown command '" + command + "'");
  } catch (const fusedmoe::tools::UsageError& error) {
    std::fprintf(stderr, "fusedmoe: %s\n\n%s\nrun `fusedmoe --help` for the options\n",
                 error.what(), kSynopsis);
    return kExitUsage;
  } catch (const fusedmoe::Error& error) {
    std::fprintf(stderr, "fusedmoe %s: %s\n", command.c_str(), error.what());
    return kExitRuntimeError;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fusedmoe %s: error: %s\n", command.c_str(), error.what());
    return kExitRuntimeError;
  }
}
