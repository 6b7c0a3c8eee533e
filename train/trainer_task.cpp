#include "train/trainer_task.h"

#include "engine/error.h"

namespace cortex::train {

const char* phase_name(Phase phase) { return phase == Phase::pretrain ? "pretrain" : "finetune"; }

Phase phase_from_name(const std::string& name) {
  if (name == "pretrain") return Phase::pretrain;
  if (name == "finetune") return Phase::finetune;
  CORTEX_FAIL("phase_from_name", "unknown phase '", name, "' (expected pretrain or finetune)");
}

}  // namespace cortex::train
