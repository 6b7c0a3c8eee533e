#include "nn/layers/embedding.h"

#include "engine/factory.h"
#include "ops/nn_ops.h"

namespace cortex::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator* gen, DType dtype, Device device)
    : num_(num_embeddings), dim_(embedding_dim) {
  CORTEX_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding", "sizes must be positive, got ", num_embeddings,
               " x ", embedding_dim);
  weight = register_parameter("weight", normal({num_embeddings, embedding_dim}, 0.0, 1.0, dtype, device, gen));
}

Tensor Embedding::forward(const Tensor& ids) const { return embedding(ids, weight); }

}  // namespace cortex::nn
