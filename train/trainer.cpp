#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "autograd/backward.h"
#include "engine/error.h"
#include "nn/optim/clip_grad.h"
#include "nn/optim/param_group.h"
#include "train/checkpoint_io.h"
#include "train/metrics_log.h"
#include "train/schedule.h"
#include "train/trainer_factory.h"
#include "train/trainer_progress.h"
#include "train/trainer_sampler.h"
#include "train/weight_average.h"

namespace cortex::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kOp = "Trainer";
// Prefix of the averaged weights in a checkpoint's trainer file ('/' never appears in parameter names).
constexpr const char* kAveragePrefix = "weight_average/";

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Per-step seed for the task's random choices: depends on (run seed, global step) only.
uint64_t step_seed(uint64_t seed, int64_t step) { return splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(step)); }

uint64_t sampler_seed(uint64_t seed, Phase phase) { return splitmix64(seed * 2 + (phase == Phase::pretrain ? 0 : 1)); }

nlohmann::json generator_state(const Generator& g) { return {{"seed", g.seed()}, {"stream", g.stream()}}; }

void restore_generator(Generator& g, const nlohmann::json& state, const char* which) {
  try {
    g.set_state(state.at("seed").get<uint64_t>(), state.at("stream").get<uint64_t>());
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL(kOp, "checkpoint has a malformed ", which, " state: ", state.dump());
  }
}

Device model_device(nn::Module& model) {
  const auto params = model.parameters();
  return params.empty() ? Device::cpu() : params.front().device();
}

// Keeps the metrics of steps up to `step`: a resumed run rewrites what followed.
void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::is_regular_file(path)) return;
  std::vector<nlohmann::json> kept;
  for (auto& r : read_metrics(path))
    if (!r.contains("step") || r["step"].get<int64_t>() <= step) kept.push_back(std::move(r));
  std::ofstream out(path, std::ios::trunc);
  for (const auto& r : kept) out << r.dump() << '\n';
}

// The first line where two model configs differ once both are parsed and written out the same
// way (so a key an older checkpoint leaves at its default compares equal); "" when none.
std::string model_config_difference(const std::string& saved_yaml, const std::string& current_yaml) {
  if (saved_yaml == current_yaml) return "";
  const auto canonical = [](const std::string& yaml, const char* source) {
    std::istringstream lines(model_config_yaml(nn::parse_model_config(yaml, source)));
    std::vector<std::string> out;
    for (std::string line; std::getline(lines, line);) out.push_back(line);
    return out;
  };
  const std::vector<std::string> a = canonical(saved_yaml, "checkpoint model_config"),
                                 b = canonical(current_yaml, "this run's model config");
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "(nothing)", y = i < b.size() ? b[i] : "(nothing)";
    if (x != y) return "'" + x + "' in the checkpoint, '" + y + "' in this run";
  }
  return "";
}

}  // namespace

TrainerOptions TrainerOptions::from_config(const TrainerConfig& c) {
  TrainerOptions o;
  o.run_dir = (fs::path(c.get_text("run.dir")) / c.get_text("run.name")).string();
  CORTEX_CHECK(!c.get_text("run.name").empty(), kOp, "run.name is empty (set run.name=... or use --config FILE)");
  o.pretrain_steps = c.get_int("pretrain.steps");
  o.finetune_steps = c.get_int("train.steps");
  o.batch_size = c.get_int("train.batch_size");
  o.pretrain_batch_size = c.get_int("pretrain.batch_size");
  o.eval_every = c.get_int("train.eval_every");
  o.checkpoint_every = c.get_int("train.checkpoint_every");
  o.log_every = c.get_int("train.log_every");
  o.seed = static_cast<uint64_t>(c.get_int("seed"));
  o.lr = c.get_real("optim.lr");
  o.min_lr_ratio = c.get_real("optim.min_lr_ratio");
  o.warmup_steps = c.get_int("optim.warmup_steps");
  o.weight_decay = c.get_real("optim.weight_decay");
  o.beta1 = c.get_real("optim.beta1");
  o.beta2 = c.get_real("optim.beta2");
  o.eps = c.get_real("optim.eps");
  o.grad_clip = c.get_real("optim.grad_clip");
  o.ema_decay = c.get_real("optim.ema_decay");
  o.resume = c.get_text("run.resume");
  return o;
}

struct Trainer::PhaseState {
  Phase phase;
  int64_t start, length;
  CosineSchedule schedule;
  EpochSampler sampler;
  std::unique_ptr<nn::optim::AdamW> optimizer;
  std::unique_ptr<WeightAverage> average;  // with ema_decay > 0; restarts with each phase
};

Trainer::Trainer(TrainTask& task, const TrainerOptions& options) : task_(task), options_(options) {
  CORTEX_CHECK(options.pretrain_steps >= 0 && options.finetune_steps >= 0, kOp, "step counts must be >= 0, got ",
               options.pretrain_steps, " pre-training and ", options.finetune_steps, " fine-tuning");
  CORTEX_CHECK(options.batch_size >= 1, kOp, "batch_size must be >= 1, got ", options.batch_size);
  CORTEX_CHECK(options.pretrain_batch_size >= 0, kOp, "pretrain batch size must be >= 0 (0: the fine-tuning one), got ",
               options.pretrain_batch_size);
  CORTEX_CHECK(options.pretrain_steps == 0 || task.supports_phase(Phase::pretrain), kOp, "pretrain.steps is ",
               options.pretrain_steps, " but this model has no self-supervised (masked-spike) objective");
  CORTEX_CHECK(options.finetune_steps == 0 || task.supports_phase(Phase::finetune), kOp, "train.steps is ",
               options.finetune_steps, " but this model cannot be fine-tuned by gradient steps");
  if (!options_.run_dir.empty()) {
    fs::create_directories(options_.run_dir);
    if (!options_.resume.empty()) {
      const std::string path =
          options_.resume == "latest" ? latest_checkpoint(options_.run_dir) : options_.resume;
      CORTEX_CHECK(!path.empty(), kOp, "run.resume=latest but ", options_.run_dir,
                   "/checkpoints holds no complete checkpoint");
      resume_from(path);
      truncate_metrics((fs::path(options_.run_dir) / "metrics.jsonl").string(), step_);
    }
    metrics_ = std::make_unique<MetricsLog>((fs::path(options_.run_dir) / "metrics.jsonl").string());
  } else {
    CORTEX_CHECK(options_.resume.empty() || options_.resume != "latest", kOp,
                 "run.resume=latest needs a run folder");
    if (!options_.resume.empty()) resume_from(options_.resume);
  }
}

Trainer::~Trainer() = default;

int64_t Trainer::total_steps() const { return options_.pretrain_steps + options_.finetune_steps; }

Phase Trainer::phase_at(int64_t step) const {
  return step < options_.pretrain_steps ? Phase::pretrain : Phase::finetune;
}

void Trainer::start_phase(Phase phase) {
  const int64_t start = phase == Phase::pretrain ? 0 : options_.pretrain_steps;
  const int64_t length = phase == Phase::pretrain ? options_.pretrain_steps : options_.finetune_steps;
  CosineScheduleConfig sc;
  sc.peak_lr = options_.lr;
  sc.min_lr = options_.lr * options_.min_lr_ratio;
  sc.total_steps = std::max<int64_t>(length, 1);
  sc.warmup_steps = std::min(options_.warmup_steps, sc.total_steps);
  nn::optim::AdamWOptions ao;
  ao.lr = options_.lr;
  ao.beta1 = options_.beta1;
  ao.beta2 = options_.beta2;
  ao.eps = options_.eps;
  ao.weight_decay = options_.weight_decay;
  // A fresh optimiser per phase: the moments of the masked-spike objective say nothing
  // about the velocity loss.
  phase_.reset(new PhaseState{phase, start, length, CosineSchedule(sc),
                              EpochSampler(task_.num_samples(phase), sampler_seed(options_.seed, phase)),
                              std::make_unique<nn::optim::AdamW>(nn::optim::decay_groups(task_.model(), ao),
                                                                 options_.master_weights),
                              nullptr});
  if (options_.ema_decay > 0) phase_->average = std::make_unique<WeightAverage>(task_.model(), options_.ema_decay);
}

StepRecord Trainer::train_step() {
  const Phase phase = phase_at(step_);
  if (!phase_ || phase_->phase != phase) start_phase(phase);
  PhaseState& ps = *phase_;
  nn::Module& model = task_.model();
  model.train();
  const double lr = ps.schedule.lr(step_ - ps.start);
  ps.optimizer->set_lr(lr);
  const std::vector<int64_t> ids = ps.sampler.next(options_.batch_of(phase));
  Tensor loss = task_.batch_loss(phase, ids, step_seed(options_.seed, step_));
  CORTEX_CHECK(loss.defined() && loss.numel() == 1, kOp, "the task's loss must be one value, got ",
               loss.defined() ? loss.describe() : std::string("an undefined tensor"));
  const double loss_value = loss.item();
  backward(loss);
  loss = Tensor();
  const auto params = model.parameters();
  const double norm = options_.grad_clip > 0 ? nn::optim::clip_grad_norm(params, options_.grad_clip)
                                             : nn::optim::grad_norm(params);
  const bool skipped = !std::isfinite(norm) || !std::isfinite(loss_value);
  if (!skipped) {
    ps.optimizer->step();
    if (ps.average) ps.average->update();
  }
  model.zero_grad();
  StepRecord record{step_, phase, loss_value, lr, norm, skipped};
  ++step_;
  return record;
}

nlohmann::json Trainer::trainer_state() const {
  nlohmann::json s = {{"step", step_},
                      {"seed", options_.seed},
                      {"batch_size", options_.batch_size},
                      {"pretrain_batch_size", options_.batch_of(Phase::pretrain)},
                      {"pretrain_steps", options_.pretrain_steps},
                      {"finetune_steps", options_.finetune_steps},
                      {"ema_decay", options_.ema_decay},
                      {"averaged_weights_in_model", averaged_weights_loaded_},
                      {"default_generator", generator_state(default_generator())}};
  if (Generator* g = task_.generator()) s["generator"] = generator_state(*g);
  if (phase_) {
    s["phase"] = phase_name(phase_->phase);
    s["sampler"] = phase_->sampler.state();
    if (phase_->average) s["weight_average_updates"] = phase_->average->updates();
  }
  return s;
}

std::string Trainer::save() {
  CORTEX_CHECK(!options_.run_dir.empty(), kOp, "cannot save a checkpoint without a run folder");
  const CheckpointPaths paths = checkpoint_paths(options_.run_dir, step_);
  nn::Metadata meta = task_.checkpoint_metadata();
  meta[kMetaStep] = std::to_string(step_);
  meta[kMetaPhase] = phase_name(phase_at(step_ == 0 ? 0 : step_ - 1));
  nn::StateDict optim = phase_ ? phase_->optimizer->state_dict() : nn::StateDict();
  if (phase_ && phase_->average) phase_->average->save_to(optim, kAveragePrefix);
  save_checkpoint(paths, task_.model().state_dict(), meta, optim, trainer_state());
  if (metrics_) metrics_->write({{"type", "checkpoint"}, {"step", step_}, {"path", paths.model}});
  return paths.model;
}

void Trainer::resume_from(const std::string& model_path) {
  nn::Module& model = task_.model();
  LoadedCheckpoint ck = load_checkpoint(model_path, model_device(model));
  const nlohmann::json& s = ck.trainer_state;
  try {
    const int64_t step = s.at("step").get<int64_t>();
    CORTEX_CHECK(s.at("seed").get<uint64_t>() == options_.seed, kOp, "checkpoint ", model_path, " used seed ",
                 s.at("seed").get<uint64_t>(), " but this run uses ", options_.seed,
                 "; an exact resume needs the same seed");
    CORTEX_CHECK(s.at("batch_size").get<int64_t>() == options_.batch_size, kOp, "checkpoint ", model_path,
                 " used batch size ", s.at("batch_size").get<int64_t>(), " but this run uses ", options_.batch_size);
    CORTEX_CHECK(s.at("pretrain_steps").get<int64_t>() == options_.pretrain_steps, kOp, "checkpoint ", model_path,
                 " had ", s.at("pretrain_steps").get<int64_t>(), " pre-training steps but this run has ",
                 options_.pretrain_steps, " (the phase boundary would move)");
    CORTEX_CHECK(step >= 0 && step <= total_steps(), kOp, "checkpoint ", model_path, " is at step ", step,
                 " but this run has only ", total_steps(), " steps");
    if (step < options_.pretrain_steps) {
      // Checkpoints from before pretrain.batch_size pre-trained with the fine-tuning batch.
      const int64_t saved_pretrain_batch = s.value("pretrain_batch_size", s.at("batch_size").get<int64_t>());
      CORTEX_CHECK(saved_pretrain_batch == options_.batch_of(Phase::pretrain), kOp, "checkpoint ", model_path,
                   " pre-trained with batch size ", saved_pretrain_batch, " but this run uses ",
                   options_.batch_of(Phase::pretrain), " and has pre-training steps left");
    }
    // Dropout, drop path and the like change the steps without changing any tensor's shape.
    const nn::Metadata current = task_.checkpoint_metadata();
    const auto saved_config = ck.model.metadata.find(kMetaModelConfig);
    const auto current_config = current.find(kMetaModelConfig);
    if (saved_config != ck.model.metadata.end() && current_config != current.end()) {
      const std::string difference = model_config_difference(saved_config->second, current_config->second);
      CORTEX_CHECK(difference.empty(), kOp, "checkpoint ", model_path, " was trained with another model config (",
                   difference, "); an exact resume needs the same");
    }
    const double saved_decay = s.value("ema_decay", 0.0);  // checkpoints from before weight averaging: 0
    CORTEX_CHECK(saved_decay == options_.ema_decay, kOp, "checkpoint ", model_path, " used optim.ema_decay=",
                 saved_decay, " but this run uses ", options_.ema_decay, "; an exact resume needs the same");
    const bool averaged_in_model = s.value("averaged_weights_in_model", false);
    CORTEX_CHECK(!averaged_in_model || step == total_steps(), kOp, "checkpoint ", model_path,
                 " ends a finished run and holds its averaged weights, not the live ones; it cannot be continued "
                 "to more steps (resume an earlier checkpoint of that run instead)");
    model.load_state_dict(ck.model.tensors);
    step_ = step;
    averaged_weights_loaded_ = averaged_in_model;
    restore_generator(default_generator(), s.at("default_generator"), "default generator");
    if (Generator* g = task_.generator()) restore_generator(*g, s.at("generator"), "model generator");
    phase_.reset();
    if (s.contains("phase") && step_ < total_steps()) {
      const Phase saved = phase_from_name(s.at("phase").get<std::string>());
      // At a phase boundary the next phase starts fresh, exactly as it would have.
      if (saved == phase_at(step_)) {
        start_phase(saved);
        nn::StateDict optimizer_state, average_state;
        for (const auto& [name, t] : ck.optimizer)
          (name.rfind(kAveragePrefix, 0) == 0 ? average_state : optimizer_state).insert(name, t);
        phase_->optimizer->load_state_dict(optimizer_state);
        phase_->sampler.load_state(s.at("sampler"));
        // The decay matched above, so a missing count or entry means a damaged file (load_from and
        // the json exception below name what is missing).
        if (phase_->average)
          phase_->average->load_from(average_state, kAveragePrefix, s.at("weight_average_updates").get<int64_t>());
      }
    }
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL(kOp, "checkpoint ", model_path, " has a malformed trainer state (", e.what(), ")");
  }
}

void Trainer::evaluate_and_log(Phase phase, TrainResult& result) {
  nn::Module& model = task_.model();
  model.eval();
  // Mid-run evaluations see the averaged weights and then training goes on from the live ones
  // (put back even when the evaluation throws); once the run is over, the average has replaced
  // them for good (see run()).
  const WeightAverage* average = phase_ && !averaged_weights_loaded_ ? phase_->average.get() : nullptr;
  const std::vector<Tensor> live = average ? average->load_into_model() : std::vector<Tensor>();
  nlohmann::json scores;
  try {
    scores = task_.evaluate(phase);
  } catch (...) {
    if (average) average->restore_model(live);
    throw;
  }
  if (average) average->restore_model(live);
  model.train();
  if (scores.empty()) return;
  result.last_eval = scores;
  if (metrics_) {
    nlohmann::json record = {{"type", "eval"}, {"step", step_}, {"phase", phase_name(phase)}};
    record.update(scores);
    metrics_->write(record);
  }
  if (options_.progress) {
    std::ostringstream os;
    os << "eval at step " << step_ << " (" << phase_name(phase) << "): " << scores.dump();
    std::fprintf(options_.progress, "%s%s\n", options_.progress_interactive ? "\n" : "", os.str().c_str());
  }
}

TrainResult Trainer::run(int64_t stop_after) {
  TrainResult result;
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ProgressReporter> progress;
  if (options_.progress)
    progress = std::make_unique<ProgressReporter>(options_.progress, options_.progress_interactive, total_steps(),
                                                  step_, options_.log_every);
  double loss_sum = 0;
  int64_t loss_n = 0;
  auto last_log = t0;
  int64_t last_log_step = step_;
  while (step_ < total_steps()) {
    const StepRecord r = train_step();
    result.steps.push_back(r);
    loss_sum += r.loss;
    ++loss_n;
    const bool phase_end = step_ == total_steps() || phase_at(step_) != r.phase;
    if (metrics_ && (step_ % options_.log_every == 0 || phase_end)) {
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - last_log).count();
      metrics_->write({{"type", "train"},
                       {"step", step_},
                       {"phase", phase_name(r.phase)},
                       {"loss", loss_sum / static_cast<double>(loss_n)},
                       {"lr", r.lr},
                       {"grad_norm", r.grad_norm},
                       {"skipped", r.skipped},
                       {"samples_per_s", dt > 0 ? static_cast<double>((step_ - last_log_step) * options_.batch_of(r.phase)) / dt
                                                : 0.0},
                       {"elapsed_s", std::chrono::duration<double>(now - t0).count()}});
      last_log = now;
      last_log_step = step_;
      loss_sum = 0;
      loss_n = 0;
    }
    if (progress) {
      char status[96];
      std::snprintf(status, sizeof status, "%s loss %.4f lr %.2e%s", phase_name(r.phase), r.loss, r.lr,
                    r.skipped ? " (skipped: non-finite gradient)" : "");
      progress->update(step_, status);
    }
    // The run's last step: the averaged weights become the model's for the final evaluation, the
    // final checkpoint and whatever predicts with the model afterwards.
    if (step_ == total_steps() && phase_ && phase_->average && !averaged_weights_loaded_) {
      phase_->average->load_into_model();
      averaged_weights_loaded_ = true;
    }
    const bool eval_now = options_.eval_every > 0 && step_ % options_.eval_every == 0;
    if (options_.evaluate && (eval_now || phase_end)) {
      if (progress) progress->finish();
      evaluate_and_log(r.phase, result);
    }
    const bool stopping = stop_after > 0 && static_cast<int64_t>(result.steps.size()) >= stop_after;
    if (!options_.run_dir.empty() &&
        ((options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0) || step_ == total_steps() ||
         stopping))
      result.final_checkpoint = save();
    if (stopping) break;
  }
  if (progress) progress->finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace cortex::train
