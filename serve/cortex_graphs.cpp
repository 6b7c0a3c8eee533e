#include "serve/cortex_graphs.h"
#include <algorithm>
#include <utility>

#ifdef CORTEX_WITH_CUDA
#include "autograd/grad_mode.h"
#include "cuda/graph.h"
#include "cuda/pinned_pool.h"
#include "cuda/runtime.h"
#include "engine/factory.h"
#include "ops/views.h"
#include "serve/log.h"

namespace cortex::serve {
namespace {

const char* source_name(nn::EventSource s) { return s == nn::EventSource::tokens ? "tokens" : "cached_kv"; }

size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

// One bucket: its static device inputs, the captured forward that reads them, and pinned
// staging memory in the same layout for the uploads and the result.
struct CortexGraphs::Bucket {
  Bucket(const nn::StaticCortexForward& forward, const nn::StaticShape& shape, int64_t outputs)
      : device(forward.allocate(shape, forward.model().device())), graph(forward.model().device().index) {
    const DType out_dtype = forward.model().dtype();
    const size_t index_bytes = aligned(device.indices.nbytes()), time_bytes = aligned(device.times.nbytes());
    const size_t out_bytes = static_cast<size_t>(shape.batch * outputs) * dtype_size(out_dtype);
    pinned = cuda::PinnedPool::instance().acquire(index_bytes + time_bytes + out_bytes);
    char* p = static_cast<char*>(pinned);
    host.shape = shape;
    host.indices = cuda::host_tensor_view(p, device.indices.shape(), DType::i64);
    host.times = cuda::host_tensor_view(p + index_bytes, device.times.shape(), DType::f64);
    host_output = cuda::host_tensor_view(p + index_bytes + time_bytes, {shape.batch, outputs}, out_dtype);
  }
  ~Bucket() {
    // Reused only once the stream has passed this bucket's last copies.
    if (pinned) cuda::PinnedPool::instance().release(pinned, cuda::current_stream(graph_device()));
  }
  int graph_device() const { return device.indices.device().index; }

  nn::StaticBatch device;  // what the graph reads
  nn::StaticBatch host;    // the same layout in pinned memory (kv_rows stay on the device)
  Tensor output;           // what the graph writes: [B, outputs]
  Tensor host_output;      // pinned [B, outputs]
  void* pinned = nullptr;
  cuda::Graph graph;
};

// A leased instance: given back to its pool when the decode is done with it (results copied
// out, the stream finished), whether it returned normally or threw.
class CortexGraphs::Lease {
 public:
  Lease() = default;
  Lease(CortexGraphs* owner, Key key, Bucket* bucket) : owner_(owner), key_(key), bucket_(bucket) {}
  Lease(Lease&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)), key_(other.key_), bucket_(std::exchange(other.bucket_, nullptr)) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (bucket_) owner_->give_back(key_, bucket_);
  }
  Bucket* get() const { return bucket_; }

 private:
  CortexGraphs* owner_ = nullptr;
  Key key_{};
  Bucket* bucket_ = nullptr;
};

CortexGraphs::CortexGraphs(const nn::Cortex& model, int64_t max_batch, int64_t instances, std::mutex& model_mu)
    : forward_(model), shapes_(max_batch), outputs_(model.config().outputs), instances_(instances), model_mu_(model_mu) {
  CORTEX_CHECK(model.device().is_cuda(), "CortexGraphs", "CUDA graphs need a model on a GPU, not ",
               model.device().str());
  CORTEX_CHECK(instances >= 1, "CortexGraphs", "needs at least one instance per bucket, got ", instances);
}

CortexGraphs::~CortexGraphs() = default;

bool CortexGraphs::fits(nn::EventSource source, int64_t windows, int64_t events) const {
  if (windows < 1 || !shapes_.batch_bucket(windows) || !GraphBuckets::event_bucket(events)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return failed_.count(key_of(source, windows, events)) == 0;
}

CortexGraphs::Key CortexGraphs::key_of(nn::EventSource source, int64_t windows, int64_t events) const {
  return {source, *shapes_.batch_bucket(windows), *GraphBuckets::event_bucket(events)};
}

bool CortexGraphs::grow(const Key& key, std::unique_lock<std::mutex>& lock) {
  const auto [source, batch, events] = key;
  Pool& pool = pools_[key];  // std::map: the reference survives other keys' insertions
  const int64_t instance = static_cast<int64_t>(pool.all.size()) + pool.capturing;
  ++pool.capturing;
  lock.unlock();
  std::unique_ptr<Bucket> b;
  std::string error;
  try {
    // The capture runs the forward eagerly once and allocates: never beside an eager decode.
    std::lock_guard<std::mutex> model_lock(model_mu_);
    b = std::make_unique<Bucket>(forward_, nn::StaticShape{batch, events, source}, outputs_);
    Bucket& ref = *b;
    // The warm-up run inside capture() reads the zeroed inputs: a valid empty batch.
    ref.graph.capture([&] { ref.output = forward_.forward(ref.device); });
    log(LogLevel::info, "cuda_graph_captured",
        {{"source", source_name(source)}, {"batch", batch}, {"events", events}, {"instance", instance},
         {"nodes", ref.graph.num_nodes()}});
  } catch (const std::exception& e) {
    b.reset();
    error = e.what();
  }
  lock.lock();
  --pool.capturing;
  returned_.notify_all();  // waiters re-check: a new idle instance, or the key failed
  if (b) {
    pool.idle.push_back(b.get());
    pool.all.push_back(std::move(b));
    return true;
  }
  if (pool.all.empty() && pool.capturing == 0) {
    failed_.insert(key);
    log(LogLevel::warn, "cuda_graph_capture_failed",
        {{"source", source_name(source)}, {"batch", batch}, {"events", events}, {"error", error},
         {"fallback", "eager"}});
  } else {
    pool.capped = true;
    log(LogLevel::warn, "cuda_graph_capture_failed",
        {{"source", source_name(source)}, {"batch", batch}, {"events", events}, {"instance", instance},
         {"error", error}, {"fallback", "wait for a captured instance"}});
  }
  return false;
}

CortexGraphs::Lease CortexGraphs::acquire(const Key& key) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (failed_.count(key)) return Lease();
    Pool& pool = pools_[key];
    if (!pool.idle.empty()) {
      Bucket* b = pool.idle.back();
      pool.idle.pop_back();
      return Lease(this, key, b);
    }
    if (!pool.capped && static_cast<int64_t>(pool.all.size()) + pool.capturing < instances_) {
      grow(key, lock);
      continue;
    }
    returned_.wait(lock);
  }
}

void CortexGraphs::give_back(const Key& key, Bucket* b) {
  std::lock_guard<std::mutex> lock(mu_);
  pools_[key].idle.push_back(b);
  returned_.notify_all();  // one condition for every key: wake them all, each re-checks its own
}

std::vector<float> CortexGraphs::replay(Bucket& b, int64_t windows, int64_t events) {
  // All on the calling thread's current stream (a worker's own): the wait below is for this
  // batch's work only, not for another worker's batch.
  try {
    copy_(b.device.used_indices(events), b.host.used_indices(events));
    copy_(b.device.used_times(events), b.host.used_times(events));
    b.graph.replay();
    copy_(b.host_output, b.output);  // waits for the replay
  } catch (...) {
    // The instance goes back to its pool: nothing of this batch may still be queued on it.
    cudaStreamSynchronize(cuda::current_stream(b.graph_device()));
    throw;
  }
  return narrow_data(b.host_output, 0, 0, windows).to_vector<float>();
}

std::optional<std::vector<float>> CortexGraphs::decode_tokens(const std::vector<nn::TokenWindow>& windows) {
  int64_t events = 0;
  for (const nn::TokenWindow& w : windows) events += w.events ? w.events->size() : 0;
  const int64_t n = static_cast<int64_t>(windows.size());
  const Lease lease = acquire(key_of(nn::EventSource::tokens, n, events));
  Bucket* b = lease.get();
  if (!b) return std::nullopt;
  forward_.pack_tokens(b->host, windows);
  return replay(*b, n, events);
}

std::optional<std::vector<float>> CortexGraphs::decode_cached(const std::vector<nn::CachedWindowShape>& windows,
                                                              const std::vector<Tensor>& rows) {
  CORTEX_CHECK(windows.size() == rows.size(), "CortexGraphs::decode_cached", windows.size(), " windows but ",
               rows.size(), " row sets");
  int64_t events = 0;
  for (size_t i = 0; i < windows.size(); ++i) {
    const int64_t n = rows[i].defined() ? rows[i].size(0) : 0;
    CORTEX_CHECK(windows[i].rows == n, "CortexGraphs::decode_cached", "window ", i, " claims ", windows[i].rows,
                 " rows but has ", n);
    events += n;
  }
  const int64_t n = static_cast<int64_t>(windows.size());
  const Lease lease = acquire(key_of(nn::EventSource::cached_kv, n, events));
  Bucket* b = lease.get();
  if (!b) return std::nullopt;
  forward_.pack_cached(b->host, windows);
  try {
    forward_.place_cached_rows(b->device, rows);
  } catch (...) {
    // As in replay(): rows already queued for this instance must land before it goes back.
    cudaStreamSynchronize(cuda::current_stream(b->graph_device()));
    throw;
  }
  return replay(*b, n, events);
}

void CortexGraphs::warm_up(int64_t events_per_window) {
  // Every event bucket a batch of windows of up to events_per_window events can need, as
  // many instances as batches may run at once, so no request waits for a capture (tens of
  // ms each) once the server is ready.
  std::unique_lock<std::mutex> lock(mu_);
  for (int64_t batch : shapes_.batch_buckets()) {
    const std::optional<int64_t> largest = GraphBuckets::event_bucket(
        std::min(batch * events_per_window, GraphBuckets::kMaxEvents));
    for (int64_t events = *GraphBuckets::event_bucket(batch); events <= *largest; events *= 2)
      for (nn::EventSource source : {nn::EventSource::tokens, nn::EventSource::cached_kv}) {
        const Key key = key_of(source, batch, events);
        while (!failed_.count(key) && !pools_[key].capped &&
               static_cast<int64_t>(pools_[key].all.size()) + pools_[key].capturing < instances_)
          if (!grow(key, lock)) break;
      }
  }
}

int64_t CortexGraphs::captures() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [key, pool] : pools_) n += static_cast<int64_t>(pool.all.size());
  return n;
}

}  // namespace cortex::serve
#endif  // CORTEX_WITH_CUDA
