#include "serve/stream_cache.h"

#include "engine/factory.h"
#include "ops/views.h"

namespace cortex::serve {

StreamCache::StreamCache(Decoder& decoder, int64_t pages, int64_t page_size, int64_t max_streams)
    : decoder_(decoder),
      window_ms_(decoder.info().window_ms),
      max_streams_(max_streams),
      pool_(pages, page_size, decoder.row_width(), decoder.info().device) {}

uint64_t StreamCache::open(RequestError& err) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int64_t>(streams_.size()) >= max_streams_) {
    err = {Rejection::stream_cache_full, "the server has " + std::to_string(max_streams_) +
                                             " streams open, its limit; retry later"};
    return 0;
  }
  const uint64_t id = next_id_++;
  streams_[id].last_used = ++tick_;
  return id;
}

void StreamCache::close(uint64_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  if (it->second.busy) {
    it->second.closing = true;
    return;
  }
  release_pages(it->second);
  streams_.erase(it);
}

void StreamCache::release_pages(Stream& s) {
  for (int64_t p : s.pages) pool_.release(p);
  s.pages.clear();
  s.head_slot = 0;
  s.resident = s.units.empty();
}

bool StreamCache::evict_one_idle() {
  Stream* victim = nullptr;
  for (auto& [id, s] : streams_) {
    if (s.busy || s.pages.empty()) continue;
    if (!victim || s.last_used < victim->last_used) victim = &s;
  }
  if (!victim) return false;
  release_pages(*victim);
  victim->resident = false;
  ++evictions_;
  return true;
}

bool StreamCache::reserve_rows(Stream& s) {
  const int64_t ps = pool_.page_size();
  const int64_t needed = (s.head_slot + static_cast<int64_t>(s.units.size()) + ps - 1) / ps;
  while (static_cast<int64_t>(s.pages.size()) < needed) {
    std::optional<int64_t> page = pool_.allocate();
    if (!page && evict_one_idle()) page = pool_.allocate();
    if (!page) return false;
    s.pages.push_back(*page);
  }
  return true;
}

void StreamCache::copy_rows_in(const Stream& s, int64_t first, const Tensor& rows) {
  const int64_t ps = pool_.page_size();
  int64_t done = 0;
  while (done < rows.size(0)) {
    const int64_t global = s.head_slot + first + done;
    const int64_t slot = global % ps;
    const int64_t count = std::min(ps - slot, rows.size(0) - done);
    copy_(pool_.rows(s.pages[global / ps], slot, count), narrow_data(rows, 0, done, count));
    done += count;
  }
}

Tensor StreamCache::gather(const Stream& s) const {
  const int64_t n = static_cast<int64_t>(s.units.size());
  const int64_t ps = pool_.page_size();
  Tensor out = empty({n, pool_.width()}, DType::f32, decoder_.info().device);
  int64_t done = 0;
  while (done < n) {
    const int64_t global = s.head_slot + done;
    const int64_t slot = global % ps;
    const int64_t count = std::min(ps - slot, n - done);
    copy_(narrow_data(out, 0, done, count), pool_.rows(s.pages[global / ps], slot, count));
    done += count;
  }
  return out;
}

std::vector<StrideOutcome> StreamCache::advance(const std::vector<StrideInput>& strides) {
  std::vector<StrideOutcome> outcomes(strides.size());
  std::vector<Plan> plans;
  Window to_encode;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < strides.size(); ++i) {
      auto it = streams_.find(strides[i].stream);
      if (it == streams_.end() || it->second.closing) {
        outcomes[i].error = {Rejection::internal, "stream " + std::to_string(strides[i].stream) + " is not open"};
        continue;
      }
      Stream& s = it->second;
      if (s.busy) {
        outcomes[i].error = {Rejection::internal, "a stream may have one stride in flight at a time"};
        continue;
      }
      s.busy = true;
      s.last_used = ++tick_;
      const Window& add = *strides[i].events;
      s.end_ms = add.end_ms;
      // Slide: events before the window start leave, and so do the pages they emptied.
      const double start = add.end_ms - window_ms_;
      int64_t gone = 0;
      while (!s.units.empty() && s.times.front() < start) {
        s.units.pop_front();
        s.times.pop_front();
        s.counts.pop_front();
        ++gone;
      }
      if (s.resident && !s.pages.empty()) {
        s.head_slot += gone;
        while (!s.pages.empty() && s.head_slot >= pool_.page_size()) {
          pool_.release(s.pages.front());
          s.pages.pop_front();
          s.head_slot -= pool_.page_size();
        }
        if (s.units.empty()) release_pages(s);
      }
      const int64_t kept = static_cast<int64_t>(s.units.size());
      if (!s.resident) release_pages(s);
      const bool reuse = s.resident;
      s.units.insert(s.units.end(), add.units.begin(), add.units.end());
      s.times.insert(s.times.end(), add.times_ms.begin(), add.times_ms.end());
      s.counts.insert(s.counts.end(), add.counts.begin(), add.counts.end());
      Plan plan{&s, i, reuse ? kept : 0, 0};
      plan.count = static_cast<int64_t>(s.units.size()) - plan.first;
      outcomes[i].hits = static_cast<uint64_t>(plan.first);
      outcomes[i].misses = static_cast<uint64_t>(plan.count);
      if (!reserve_rows(s)) {
        release_pages(s);
        s.resident = s.units.empty();
        s.busy = false;
        outcomes[i].error = {Rejection::stream_cache_full,
                             "the streaming cache has no free page even after evicting idle streams"};
        continue;
      }
      s.resident = true;
      for (int64_t e = plan.first; e < plan.first + plan.count; ++e) {
        to_encode.units.push_back(s.units[e]);
        to_encode.times_ms.push_back(s.times[e]);
        to_encode.counts.push_back(s.counts[e]);
      }
      plans.push_back(plan);
    }
  }
  try {
    // One encoder call for every stream's missing rows; then each window is gathered.
    Tensor rows;
    if (!to_encode.empty()) {
      to_encode.end_ms = to_encode.times_ms.back() + 1.0;
      rows = decoder_.encode_events(to_encode);
    }
    int64_t offset = 0;
    for (const Plan& plan : plans) {
      if (plan.count > 0) copy_rows_in(*plan.stream, plan.first, narrow_data(rows, 0, offset, plan.count));
      offset += plan.count;
      StrideOutcome& out = outcomes[plan.outcome];
      out.window.rows = gather(*plan.stream);
      out.window.times_ms.assign(plan.stream->times.begin(), plan.stream->times.end());
      out.window.end_ms = plan.stream->end_ms;
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Plan& plan : plans) {
      release_pages(*plan.stream);
      plan.stream->resident = plan.stream->units.empty();
      plan.stream->busy = false;
    }
    throw;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const Plan& plan : plans) {
    hits_ += outcomes[plan.outcome].hits;
    misses_ += outcomes[plan.outcome].misses;
    plan.stream->busy = false;
  }
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->second.closing && !it->second.busy) {
      release_pages(it->second);
      it = streams_.erase(it);
    } else {
      ++it;
    }
  }
  return outcomes;
}

StreamCache::Stats StreamCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats st;
  st.pages_in_use = pool_.in_use();
  st.pages_total = pool_.capacity();
  st.bytes = pool_.bytes();
  st.streams = static_cast<int64_t>(streams_.size());
  for (const auto& [id, s] : streams_) st.resident_streams += s.pages.empty() ? 0 : 1;
  st.hits = hits_;
  st.misses = misses_;
  st.evictions = evictions_;
  return st;
}

}  // namespace cortex::serve
