#pragma once
// What the training loop needs from a model family: its parameters, how many samples each
// phase draws from, the loss of a batch, held-out scores and what to store with a
// checkpoint. The loop itself (train/trainer.h) knows nothing about spikes or velocities.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "engine/tensor.h"
#include "nn/module.h"
#include "nn/safetensors.h"

namespace cortex::train {

// Self-supervised masked-spike pre-training, then supervised fine-tuning on velocity.
enum class Phase { pretrain, finetune };
const char* phase_name(Phase phase);
Phase phase_from_name(const std::string& name);

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual nn::Module& model() = 0;
  virtual bool supports_phase(Phase phase) const { return phase == Phase::finetune; }
  // The sampler permutes sample ids 0 .. num_samples(phase)-1.
  virtual int64_t num_samples(Phase phase) const = 0;
  // Mean loss of the batch `samples` (a 1-element f32 tensor with autograd history).
  // `seed` is unique per step: every random choice of the batch (masks, window ends)
  // derives from it, so a resumed run repeats them exactly.
  virtual Tensor batch_loss(Phase phase, const std::vector<int64_t>& samples, uint64_t seed) = 0;
  // Scores on held-out data for the phase ({"r2": ...}); an empty object when there is none.
  virtual nlohmann::json evaluate(Phase phase) = 0;
  // The generator the model draws dropout masks from (its counter is saved with every
  // checkpoint); null when the model uses the default generator or none.
  virtual Generator* generator() { return nullptr; }
  // Stored in every checkpoint's __metadata__ (the model config among it).
  virtual nn::Metadata checkpoint_metadata() const = 0;
};

}  // namespace cortex::train
