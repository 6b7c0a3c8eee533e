#include "nn/optim/adamw.h"

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "nn/optim/state_keys.h"
#include "ops/kernels.h"

namespace cortex::nn::optim {
namespace {

void check_options(const AdamWOptions& o, size_t group) {
  CORTEX_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 &&
                   o.beta2 < 1,
               "AdamW", "group ", group, " has invalid options: lr=", o.lr, " betas=(", o.beta1, ", ", o.beta2,
               ") eps=", o.eps, " weight_decay=", o.weight_decay,
               " (need lr, eps, weight_decay >= 0 and betas in [0, 1))");
}

DType state_dtype(const Tensor& param) { return param.dtype() == DType::f64 ? DType::f64 : DType::f32; }

// The step's tensors for one device and step count: one kernel call.
struct Bucket {
  Device device;
  int64_t step;
  std::vector<Tensor> params, grads, exp_avg, exp_avg_sq, copies;
  bool has_copies = false;
};

}  // namespace

AdamW::AdamW(std::vector<AdamWGroup> groups, bool master_weights)
    : groups_(std::move(groups)), master_weights_(master_weights) {
  std::vector<std::vector<NamedTensor>*> lists;
  for (size_t g = 0; g < groups_.size(); ++g) {
    check_options(groups_[g].options, g);
    lists.push_back(&groups_[g].params);
    state_.emplace_back(groups_[g].params.size());
  }
  check_param_names(lists, "AdamW");
}

AdamW::AdamW(std::vector<NamedTensor> params, const AdamWOptions& options, bool master_weights)
    : AdamW(std::vector<AdamWGroup>{{std::move(params), options}}, master_weights) {}

bool AdamW::uses_master(const Tensor& p) const {
  return master_weights_ && (p.dtype() == DType::bf16 || p.dtype() == DType::f16);
}

void AdamW::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const AdamWOptions& o = groups_[g].options;
    check_options(o, g);
    std::vector<Bucket> buckets;
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const auto& [name, p] = groups_[g].params[i];
      const Tensor grad = p.grad();
      if (!grad.defined()) continue;
      CORTEX_CHECK(p.is_contiguous(), "AdamW", "parameter '", name, "' is not contiguous: ", p.describe());
      State& s = state_[g][i];
      if (!s.exp_avg.defined()) {
        s.exp_avg = zeros(p.shape(), state_dtype(p), p.device());
        s.exp_avg_sq = zeros(p.shape(), state_dtype(p), p.device());
        if (uses_master(p)) s.master = contiguous_copy(data_to_dtype(p, DType::f32));
      }
      // State follows a parameter that moved to another device after it was created.
      for (Tensor* t : {&s.exp_avg, &s.exp_avg_sq, &s.master})
        if (t->defined()) move_tensor_in_place(*t, p.device(), t->dtype());
      ++s.step;
      Bucket* b = nullptr;
      for (auto& candidate : buckets)
        if (candidate.device == p.device() && candidate.step == s.step) b = &candidate;
      if (!b) b = &buckets.emplace_back(Bucket{p.device(), s.step, {}, {}, {}, {}, {}, false});
      b->params.push_back(s.master.defined() ? s.master : p);
      b->grads.push_back(data_contiguous(grad));
      b->exp_avg.push_back(s.exp_avg);
      b->exp_avg_sq.push_back(s.exp_avg_sq);
      b->copies.push_back(s.master.defined() ? p : Tensor());
      b->has_copies = b->has_copies || s.master.defined();
    }
    for (auto& b : buckets) {
      const AdamWHyper h{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, b.step};
      adamw_kernel().get(b.device)(b.params, b.grads, b.exp_avg, b.exp_avg_sq,
                                   b.has_copies ? b.copies : std::vector<Tensor>{}, h);
    }
  }
}

void AdamW::zero_grad() {
  for (auto& group : groups_)
    for (auto& [name, p] : group.params) p.zero_grad();
}

void AdamW::set_lr(double lr) {
  CORTEX_CHECK(lr >= 0, "AdamW::set_lr", "negative learning rate ", lr);
  for (auto& group : groups_) group.options.lr = lr;
}

std::pair<size_t, size_t> AdamW::locate(const std::string& name) const {
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      if (groups_[g].params[i].first == name) return {g, i};
  CORTEX_FAIL("AdamW", "no parameter named '", name, "'");
}

int64_t AdamW::step_count(const std::string& name) const {
  auto [g, i] = locate(name);
  return state_[g][i].step;
}

Tensor AdamW::master(const std::string& name) const {
  auto [g, i] = locate(name);
  return state_[g][i].master;
}

StateDict AdamW::state_dict() const {
  StateDict out;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const State& s = state_[g][i];
      if (s.step == 0) continue;
      const std::string& name = groups_[g].params[i].first;
      out.insert(name + kStepKey, from_vector(std::vector<int64_t>{s.step}, {}));
      out.insert(name + kExpAvgKey, s.exp_avg);
      out.insert(name + kExpAvgSqKey, s.exp_avg_sq);
      if (s.master.defined()) out.insert(name + kMasterKey, s.master);
    }
  }
  return out;
}

void AdamW::load_state_dict(const StateDict& state) {
  std::unordered_map<std::string, std::pair<size_t, size_t>> where;
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i) where[groups_[g].params[i].first] = {g, i};

  std::vector<std::string> problems;
  const auto pieces = group_state_keys(state, {kStepKey, kExpAvgSqKey, kExpAvgKey, kMasterKey}, problems);
  std::vector<std::vector<State>> loaded(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) loaded[g].resize(groups_[g].params.size());
  for (const auto& [name, keys] : pieces) {
    auto it = where.find(name);
    if (it == where.end()) {
      problems.push_back("state for unknown parameter '" + name + "'");
      continue;
    }
    const auto [g, i] = it->second;
    const Tensor& p = groups_[g].params[i].second;
    State& s = loaded[g][i];
    s.step = read_step(state, name, problems);
    s.exp_avg = read_state_tensor(state, name + kExpAvgKey, p, state_dtype(p), problems);
    s.exp_avg_sq = read_state_tensor(state, name + kExpAvgSqKey, p, state_dtype(p), problems);
    if (uses_master(p)) s.master = read_state_tensor(state, name + kMasterKey, p, DType::f32, problems);
    else if (keys.count(kMasterKey)) problems.push_back("'" + name + kMasterKey + "' given but '" + name +
                                                        "' keeps no master copy");
  }
  throw_state_problems("AdamW::load_state_dict", problems);
  state_ = std::move(loaded);
}

}  // namespace cortex::nn::optim
