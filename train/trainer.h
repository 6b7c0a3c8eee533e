#pragma once
// The training loop: AdamW with a cosine schedule per phase, global gradient-norm clipping,
// an epoch sampler, evaluation and checkpoints every N steps, JSON-lines metrics and a
// progress display. A run resumed from a checkpoint continues bit for bit: weights,
// optimiser moments (and f32 masters of bf16 weights), step, phase, sampler position and
// the generators' counters are all restored.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "nn/optim/adamw.h"
#include "train/trainer_config.h"
#include "train/trainer_task.h"

namespace cortex::train {

struct TrainerOptions {
  std::string run_dir;  // metrics.jsonl, config.yaml and checkpoints/ go here ("" writes nothing)
  int64_t pretrain_steps = 0;
  int64_t finetune_steps = 100;
  int64_t batch_size = 16;
  int64_t pretrain_batch_size = 0;  // 0: batch_size
  int64_t eval_every = 0;        // 0: evaluate at the end of each phase only
  bool evaluate = true;          // false: never (the protocol scores the model itself)
  int64_t checkpoint_every = 0;  // 0: checkpoint at the end only
  int64_t log_every = 10;
  uint64_t seed = 0;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;
  int64_t warmup_steps = 0;
  double weight_decay = 0.05;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double grad_clip = 1.0;        // 0: no clipping
  bool master_weights = true;    // f32 masters for 16-bit weights
  double ema_decay = 0;          // > 0: evaluate and finish with averaged weights (weight_average.h)
  std::string resume;            // a checkpoint's model file, "latest", or "" for a fresh start
  std::FILE* progress = nullptr; // null: no progress display
  bool progress_interactive = false;

  // Samples per step of a phase.
  int64_t batch_of(Phase phase) const {
    return phase == Phase::pretrain && pretrain_batch_size > 0 ? pretrain_batch_size : batch_size;
  }
  // The trainer keys of a config; run_dir is <run.dir>/<run.name>.
  static TrainerOptions from_config(const TrainerConfig& config);
};

struct StepRecord {
  int64_t step;  // global 0-based index of the update
  Phase phase;
  double loss, lr, grad_norm;
  bool skipped;  // non-finite gradient: no update
};

struct TrainResult {
  std::vector<StepRecord> steps;   // the steps run by this call (not those before a resume)
  nlohmann::json last_eval;        // last evaluation of the last phase run
  double seconds = 0;              // wall time of this call
  std::string final_checkpoint;    // model file of the last checkpoint ("" without run_dir)
};

class Trainer {
 public:
  // Resumes at once when options.resume names a checkpoint.
  Trainer(TrainTask& task, const TrainerOptions& options);
  ~Trainer();

  // Runs (or continues) pre-training and fine-tuning to the configured step counts.
  // `stop_after` > 0 stops early after that many global steps (tests and time limits);
  // a checkpoint is written when stopping there.
  TrainResult run(int64_t stop_after = 0);

  int64_t step() const { return step_; }
  int64_t total_steps() const;
  // Loads a checkpoint (model file path); run() then continues from it.
  void resume_from(const std::string& model_path);
  // Writes a checkpoint of the current state; returns the model file.
  std::string save();

 private:
  struct PhaseState;
  Phase phase_at(int64_t step) const;
  void start_phase(Phase phase);
  StepRecord train_step();
  nlohmann::json trainer_state() const;
  void evaluate_and_log(Phase phase, TrainResult& result);

  TrainTask& task_;
  TrainerOptions options_;
  int64_t step_ = 0;
  std::unique_ptr<PhaseState> phase_;
  std::unique_ptr<class MetricsLog> metrics_;
  bool averaged_weights_loaded_ = false;  // the run finished and the average replaced the live weights
};

}  // namespace cortex::train
