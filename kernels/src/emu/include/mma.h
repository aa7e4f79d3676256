// Emulation stand-in for CUDA's <mma.h>: everything lives in cuda_emu.h.
#pragma once
#include "../cuda_emu.h"
