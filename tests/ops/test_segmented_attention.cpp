// segmented_attention (fused, packed samples of different lengths) against the reference
// composition it replaces: one scaled_dot_product_attention per sample on slices, in float64.
// Forward and gradients in f64/f32/bf16 on awkward segment sizes (empty samples, samples
// without queries or keys), non-contiguous inputs, an f64 gradcheck, and every error path.
#include <cmath>
#include <sstream>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

std::vector<int64_t> offsets_of(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> off{0};
  for (int64_t n : sizes) off.push_back(off.back() + n);
  return off;
}

// The per-sample composition (formerly nn::segmented_attention): differentiable, any dtype.
Tensor reference(const Tensor& q, const std::vector<int64_t>& qo, const Tensor& k, const Tensor& v,
                 const std::vector<int64_t>& ko, double scale) {
  const int64_t heads = q.size(1), d = q.size(2);
  std::vector<Tensor> parts;
  for (size_t b = 0; b + 1 < qo.size(); ++b) {
    const int64_t nq = qo[b + 1] - qo[b], nk = ko[b + 1] - ko[b];
    if (nq == 0) continue;
    if (nk == 0) {
      parts.push_back(zeros({nq, heads, d}, q.dtype(), q.device()));
      continue;
    }
    const Tensor qb = transpose(narrow(q, 0, qo[b], nq), 0, 1);
    const Tensor kb = transpose(narrow(k, 0, ko[b], nk), 0, 1);
    const Tensor vb = transpose(narrow(v, 0, ko[b], nk), 0, 1);
    parts.push_back(transpose(scaled_dot_product_attention(qb, kb, vb, Tensor(), scale), 0, 1));
  }
  if (parts.empty()) return zeros({0, heads, d}, q.dtype(), q.device());
  return parts.size() == 1 ? contiguous(parts[0]) : cat(parts, 0);
}

struct Case {
  std::vector<int64_t> q_sizes, k_sizes;
  int64_t heads, d;
};

// Empty samples, samples with queries and no keys, keys and no queries, one key, long ones.
const std::vector<Case> kCases{
    {{3, 2, 5, 1, 4}, {0, 1, 7, 37, 300}, 2, 8},
    {{0, 4, 3, 0, 2}, {5, 0, 17, 3, 0}, 3, 5},
    {{1}, {129}, 1, 16},
    {{7, 7, 7}, {13, 13, 13}, 2, 1},
};

double scale_of(const Case& c) { return 1.0 / std::sqrt(static_cast<double>(c.d)); }

struct Inputs {
  Tensor q, k, v;
  std::vector<int64_t> qo, ko;
};

Inputs make_inputs(const Case& c, uint64_t seed, DType dtype) {
  Inputs in;
  in.qo = offsets_of(c.q_sizes);
  in.ko = offsets_of(c.k_sizes);
  in.q = random({in.qo.back(), c.heads, c.d}, seed, dtype, Device::cpu(), 1.5);
  in.k = random({in.ko.back(), c.heads, c.d}, seed + 1, dtype, Device::cpu(), 1.5);
  in.v = random({in.ko.back(), c.heads, c.d}, seed + 2, dtype);
  return in;
}

Tensor f64(const Tensor& t) { return data_to_dtype(t, DType::f64); }

std::string describe_case(const Case& c, DType dtype) {
  std::ostringstream s;
  s << dtype_name(dtype) << " H=" << c.heads << " D=" << c.d << " keys";
  for (int64_t n : c.k_sizes) s << ' ' << n;
  return s.str();
}

// Gradients of sum(out * w) for q, k, v through fn.
std::vector<Tensor> grads_of(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& fn,
                             const Inputs& in, const Tensor& w) {
  Tensor q = in.q.detach(), k = in.k.detach(), v = in.v.detach();
  q.set_requires_grad();
  k.set_requires_grad();
  v.set_requires_grad();
  backward(sum(mul(fn(q, k, v), w)));
  return {q.grad(), k.grad(), v.grad()};
}

}  // namespace

TEST_CASE("segmented_attention matches the per-sample reference in f64, f32 and bf16") {
  uint64_t seed = 10;
  for (const Case& c : kCases)
    for (DType dtype : {DType::f64, DType::f32, DType::bf16}) {
      INFO(describe_case(c, dtype));
      const Inputs in = make_inputs(c, seed += 3, dtype);
      const Tensor out = segmented_attention(in.q, in.qo, in.k, in.v, in.ko);
      CHECK(out.dtype() == dtype);
      CHECK(out.shape() == in.q.shape());
      const Tensor expected = reference(f64(in.q), in.qo, f64(in.k), f64(in.v), in.ko, scale_of(c));
      // f32: a few roundings of O(1) values; bf16: the output's own rounding (2^-8) dominates.
      const double tol = dtype == DType::f64 ? 1e-12 : dtype == DType::f32 ? 2e-6 : 1e-2;
      expect_close(out, expected, tol, tol, "forward");
    }
}

TEST_CASE("segmented_attention gradients match the per-sample reference in f64, f32 and bf16") {
  uint64_t seed = 100;
  for (const Case& c : kCases)
    for (DType dtype : {DType::f64, DType::f32, DType::bf16}) {
      INFO(describe_case(c, dtype));
      const Inputs in = make_inputs(c, seed += 3, dtype);
      const Tensor w = random(in.q.shape(), seed + 7, dtype);
      const auto got = grads_of([&](const Tensor& q, const Tensor& k, const Tensor& v) {
        return segmented_attention(q, in.qo, k, v, in.ko);
      }, in, w);
      const Inputs in64{f64(in.q), f64(in.k), f64(in.v), in.qo, in.ko};
      const auto want = grads_of([&](const Tensor& q, const Tensor& k, const Tensor& v) {
        return reference(q, in.qo, k, v, in.ko, scale_of(c));
      }, in64, f64(w));
      // Gradients sum up to 300 products; the bf16 ones are rounded inputs to bf16 outputs.
      const double tol = dtype == DType::f64 ? 1e-11 : dtype == DType::f32 ? 2e-5 : 3e-2;
      const char* names[] = {"gq", "gk", "gv"};
      for (int i = 0; i < 3; ++i) {
        REQUIRE(got[i].defined());
        CHECK(got[i].dtype() == dtype);
        expect_close(got[i], want[i], tol, tol, names[i]);
      }
    }
}

TEST_CASE("segmented_attention: empty samples give zeros and zero gradients") {
  // Sample 0: queries, no keys. Sample 1: keys, no queries. Sample 2: both.
  const std::vector<int64_t> qo{0, 3, 3, 5}, ko{0, 0, 4, 6};
  Tensor q = random({5, 2, 4}, 1), k = random({6, 2, 4}, 2), v = random({6, 2, 4}, 3);
  q.set_requires_grad();
  k.set_requires_grad();
  v.set_requires_grad();
  const Tensor out = segmented_attention(q, qo, k, v, ko);
  backward(sum(mul(out, random({5, 2, 4}, 4))));
  for (double x : values(narrow(out, 0, 0, 3))) CHECK(x == 0);
  for (double x : values(narrow(q.grad(), 0, 0, 3))) CHECK(x == 0);
  for (double x : values(narrow(k.grad(), 0, 0, 4))) CHECK(x == 0);
  for (double x : values(narrow(v.grad(), 0, 0, 4))) CHECK(x == 0);
  double nonzero = 0;
  for (double x : values(narrow(k.grad(), 0, 4, 2))) nonzero += std::abs(x);
  CHECK(nonzero > 0);

  // No queries at all, no keys at all, no samples at all.
  CHECK(segmented_attention(zeros({0, 2, 4}, DType::f64), {0, 0, 0}, k, v, {0, 4, 6}).shape() == Shape{0, 2, 4});
  const Tensor no_keys = segmented_attention(q, qo, zeros({0, 2, 4}, DType::f64), zeros({0, 2, 4}, DType::f64), {0, 0, 0, 0});
  for (double x : values(no_keys)) CHECK(x == 0);
  CHECK(segmented_attention(zeros({0, 1, 3}), {0}, zeros({0, 1, 3}), zeros({0, 1, 3}), {0}).numel() == 0);
}

TEST_CASE("segmented_attention takes non-contiguous inputs and an explicit scale") {
  const Case c{{2, 5, 1}, {4, 0, 9}, 3, 6};
  const Inputs in = make_inputs(c, 55, DType::f64);
  // Stored transposed, and k/v as a [H, N, D] tensor seen through a transpose.
  const Tensor k_hnd = contiguous(transpose(in.k, 0, 1));
  const Tensor k_view = transpose(k_hnd, 0, 1);
  REQUIRE_FALSE(k_view.is_contiguous());
  for (double scale : {0.0, 0.3}) {
    const Tensor out = segmented_attention(noncontiguous(in.q), in.qo, k_view, noncontiguous(in.v), in.ko, scale);
    expect_close(out, reference(in.q, in.qo, in.k, in.v, in.ko, scale > 0 ? scale : scale_of(c)), 1e-12, 1e-12);
  }
}

TEST_CASE("segmented_attention gradcheck in f64") {
  const std::vector<int64_t> qo{0, 2, 2, 5}, ko{0, 3, 5, 5};
  gradcheck(
      [&](const std::vector<Tensor>& x) { return segmented_attention(x[0], qo, x[1], x[2], ko); },
      {random({5, 2, 3}, 21), random({5, 2, 3}, 22), random({5, 2, 3}, 23)}, 1e-6, 1e-5, 1e-7, "q, k, v");
  // The same tensor as k and v (self-attention within samples), non-default scale.
  const std::vector<int64_t> so{0, 3, 4};
  gradcheck([&](const std::vector<Tensor>& x) { return segmented_attention(x[0], so, x[0], x[0], so, 0.7); },
            {random({4, 1, 5}, 24)}, 1e-6, 1e-5, 1e-7, "q = k = v");
}

TEST_CASE("segmented_attention rejects bad input with clear errors") {
  const Tensor q = random({5, 2, 4}, 1, DType::f32), k = random({6, 2, 4}, 2, DType::f32);
  const std::vector<int64_t> qo{0, 2, 5}, ko{0, 1, 6};
  auto throws = [](const std::function<void()>& f, const char* text) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(text), cortex::Error);
  };
  throws([&] { segmented_attention(q, {1, 2, 5}, k, k, ko); }, "query offsets must be B+1 entries starting at 0");
  throws([&] { segmented_attention(q, {}, k, k, ko); }, "query offsets must be B+1 entries starting at 0");
  throws([&] { segmented_attention(q, {0, 3, 2, 5}, k, k, {0, 1, 2, 6}); }, "query offsets decrease at sample 1");
  throws([&] { segmented_attention(q, {0, 2, 4}, k, k, ko); }, "query offsets end at 4 but there are 5 query rows");
  throws([&] { segmented_attention(q, qo, k, k, {0, 1, 7}); }, "key offsets end at 7 but there are 6 key rows");
  throws([&] { segmented_attention(q, qo, k, k, {0, 1, 3, 6}); }, "query offsets describe 2 samples but key offsets 3");
  throws([&] { segmented_attention(q, qo, data_to_dtype(k, DType::f64), k, ko); }, "must share a floating dtype");
  const Tensor qi = data_to_dtype(q, DType::i32), ki = data_to_dtype(k, DType::i32);
  throws([&] { segmented_attention(qi, qo, ki, ki, ko); }, "must share a floating dtype");
  throws([&] { segmented_attention(reshape(q, {5, 8}), qo, k, k, ko); }, "expected q [Nq, H, D]");
  throws([&] { segmented_attention(q, qo, random({6, 1, 4}, 3, DType::f32), k, ko); }, "must share H and D");
  throws([&] { segmented_attention(q, qo, k, random({6, 2, 5}, 3, DType::f32), ko); }, "must share H and D");
  throws([&] { segmented_attention(zeros({5, 2, 0}), qo, zeros({6, 2, 0}), zeros({6, 2, 0}), ko); },
         "needs a non-zero head dim");
  throws([&] { segmented_attention(q, qo, k, k, ko, -1.0); }, "scale must be finite and >= 0");
  throws([&] { segmented_attention(q, qo, k, k, ko, NAN); }, "scale must be finite and >= 0");
  throws([&] { segmented_attention(q, qo, Tensor(), k, ko); }, "undefined q, k or v");
}

// ---- segmented_attention_device_offsets: key offsets in a tensor, uniform queries ----

namespace {

// The reference for one packing: queries_per_sample rows per sample, keys between offsets.
Tensor device_offsets_reference(const Tensor& q, const Tensor& k, const Tensor& v, const std::vector<int64_t>& ko,
                                double scale) {
  const int64_t samples = static_cast<int64_t>(ko.size()) - 1, per_sample = q.size(0) / samples;
  std::vector<int64_t> qo{0};
  for (int64_t b = 0; b < samples; ++b) qo.push_back(qo.back() + per_sample);
  // The reference takes exactly the packed keys: rows [ko[0], ko[B]).
  std::vector<int64_t> shifted;
  for (int64_t o : ko) shifted.push_back(o - ko.front());
  const int64_t used = ko.back() - ko.front();
  return reference(q, qo, narrow(k, 0, ko.front(), used), narrow(v, 0, ko.front(), used), shifted, scale);
}

}  // namespace

TEST_CASE("segmented_attention_device_offsets matches the reference, ignoring NaN rows past the last offset") {
  struct DeviceCase {
    std::vector<int64_t> key_sizes;
    int64_t per_sample, capacity, heads, d;
    int64_t first_offset = 0;
  };
  // Empty samples (first, middle, last), one key, a full capacity, offsets not starting at 0.
  const std::vector<DeviceCase> cases{
      {{0, 3, 0, 17, 1}, 4, 40, 2, 8},
      {{129}, 3, 129, 1, 16},
      {{5, 0, 0}, 1, 9, 3, 5},
      {{0, 0}, 2, 7, 2, 4},
      {{7, 2, 11}, 17, 64, 2, 6, 5},
  };
  uint64_t seed = 300;
  for (const DeviceCase& c : cases)
    for (DType dtype : {DType::f64, DType::f32, DType::bf16})
      for (DType offset_dtype : {DType::i64, DType::i32}) {
        INFO(dtype_name(dtype), " offsets ", dtype_name(offset_dtype), " capacity ", c.capacity, " first sample ",
             c.key_sizes[0]);
        std::vector<int64_t> ko{c.first_offset};
        for (int64_t n : c.key_sizes) ko.push_back(ko.back() + n);
        REQUIRE(ko.back() <= c.capacity);
        const int64_t samples = static_cast<int64_t>(c.key_sizes.size());
        const Tensor q = random({samples * c.per_sample, c.heads, c.d}, seed++, dtype, Device::cpu(), 1.5);
        // Rows outside [ko[0], ko[B]) are NaN: reading any of them would poison the result.
        Tensor k = full({c.capacity, c.heads, c.d}, NAN, dtype), v = full({c.capacity, c.heads, c.d}, NAN, dtype);
        const int64_t used = ko.back() - ko.front();
        if (used > 0) {
          copy_(narrow(k, 0, ko.front(), used), random({used, c.heads, c.d}, seed++, dtype, Device::cpu(), 1.5));
          copy_(narrow(v, 0, ko.front(), used), random({used, c.heads, c.d}, seed++, dtype));
        }
        const Tensor offsets = data_to_dtype(from_vector(ko, {samples + 1}), offset_dtype);
        const Tensor out = segmented_attention_device_offsets(q, k, v, offsets);
        CHECK(out.dtype() == dtype);
        CHECK(out.shape() == q.shape());
        const Tensor expected = device_offsets_reference(f64(q), f64(k), f64(v), ko, 1.0 / std::sqrt(double(c.d)));
        const double tol = dtype == DType::f64 ? 1e-12 : dtype == DType::f32 ? 2e-6 : 1e-2;
        expect_close(out, expected, tol, tol, "device offsets");
        // Samples without keys get exact zeros.
        for (int64_t b = 0; b < samples; ++b)
          if (c.key_sizes[b] == 0)
            for (double x : values(narrow(out, 0, b * c.per_sample, c.per_sample))) CHECK(x == 0);
      }
}

TEST_CASE("segmented_attention_device_offsets equals segmented_attention on the same packing, bit for bit") {
  // The serving graphs replace one with the other; on the CPU both share one row kernel.
  const std::vector<int64_t> ko{0, 13, 13, 40, 41}, qo{0, 6, 12, 18, 24};
  const Tensor q = random({24, 3, 16}, 401, DType::f32), k = random({41, 3, 16}, 402, DType::f32);
  const Tensor v = random({41, 3, 16}, 403, DType::f32);
  const Tensor a = segmented_attention_device_offsets(q, k, v, from_vector(ko, {5}), 0.3);
  const Tensor b = segmented_attention(q, qo, k, v, ko, 0.3);
  CHECK(values(a) == values(b));
  // Non-contiguous operands give the same result.
  const Tensor c = segmented_attention_device_offsets(noncontiguous(q), noncontiguous(k), noncontiguous(v),
                                                      from_vector(ko, {5}), 0.3);
  CHECK(values(c) == values(b));
}

TEST_CASE("segmented_attention_device_offsets: no samples, no queries") {
  const Tensor k = random({5, 2, 4}, 1, DType::f32);
  CHECK(segmented_attention_device_offsets(zeros({0, 2, 4}), k, k, from_vector(std::vector<int64_t>{0}, {1})).numel() ==
        0);
  CHECK(segmented_attention_device_offsets(zeros({0, 2, 4}), k, k, from_vector(std::vector<int64_t>{0, 2, 5}, {3}))
            .shape() == Shape{0, 2, 4});
}

TEST_CASE("segmented_attention_device_offsets rejects bad input with clear errors") {
  const Tensor q = random({6, 2, 4}, 1, DType::f32), k = random({8, 2, 4}, 2, DType::f32);
  const Tensor good = from_vector(std::vector<int64_t>{0, 3, 8}, {3});
  auto throws = [](const std::function<void()>& f, const char* text) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(text), cortex::Error);
  };
  auto offsets = [](std::vector<int64_t> o) { return from_vector(o, {static_cast<int64_t>(o.size())}); };
  CHECK(segmented_attention_device_offsets(q, k, k, good).shape() == q.shape());
  throws([&] { segmented_attention_device_offsets(q, k, k, offsets({0, 5, 3})); },
         "segmented_attention_device_offsets: key offsets decrease at sample 1 (5 -> 3)");
  throws([&] { segmented_attention_device_offsets(q, k, k, offsets({-1, 3, 8})); }, "key offsets must start at >= 0");
  throws([&] { segmented_attention_device_offsets(q, k, k, offsets({0, 3, 9})); },
         "key offsets end at 9 but k f32[8, 2, 4] cpu has 8 rows");
  throws([&] { segmented_attention_device_offsets(q, k, k, offsets({0, 1, 2, 3, 8})); },
         "must hold the same number of query rows for each of the 4 samples");
  throws([&] { segmented_attention_device_offsets(q, k, k, data_to_dtype(good, DType::f32)); },
         "key offsets must be i32 or i64 [B + 1]");
  throws([&] { segmented_attention_device_offsets(q, k, k, reshape(good, {1, 3})); },
         "key offsets must be i32 or i64 [B + 1]");
  throws([&] { segmented_attention_device_offsets(q, k, k, Tensor()); }, "key offsets must be i32 or i64 [B + 1]");
  throws([&] { segmented_attention_device_offsets(q, k, random({8, 2, 5}, 3, DType::f32), good); },
         "must share H and D");
  throws([&] { segmented_attention_device_offsets(q, data_to_dtype(k, DType::f64), k, good); },
         "must share a floating dtype");
  throws([&] { segmented_attention_device_offsets(q, k, k, good, -2.0); }, "scale must be finite and >= 0");
  // Inference only: inputs that would record history are refused; under NoGradGuard they are fine.
  Tensor leaf = q.detach();
  leaf.set_requires_grad();
  throws([&] { segmented_attention_device_offsets(leaf, k, k, good); }, "is inference-only (no backward)");
  NoGradGuard no_grad;
  CHECK(segmented_attention_device_offsets(leaf, k, k, good).shape() == q.shape());
}
