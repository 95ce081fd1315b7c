// fusedmoe: Mixture-of-Experts layers for LLM inference on NVIDIA Hopper (sm_90a).
// Include this one header for the whole public API.
#pragma once

#include "fusedmoe/config.h"
#include "fusedmoe/error.h"
#include "fusedmoe/moe.h"
#include "fusedmoe/types.h"
#include "fusedmoe/weights.h"
