#pragma once
#include "engine/generator.h"
#include "nn/module.h"

namespace cortex::nn {

// A lookup table [num, dim] indexed by integer ids; rows start standard normal.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator* gen = nullptr, DType dtype = DType::f32,
            Device device = Device::cpu());
  // ids of any shape (i32/i64) -> ids.shape + [dim]
  Tensor forward(const Tensor& ids) const;
  // Embedding rows are looked up, not multiplied: decay would shrink rare ids toward zero.
  bool decays(const std::string&, const Tensor&) const override { return false; }

  int64_t num_embeddings() const { return num_; }
  int64_t embedding_dim() const { return dim_; }
  Tensor weight;

 private:
  int64_t num_, dim_;
};

}  // namespace cortex::nn
