#pragma once
// Admitted jobs ordered by deadline (earliest first, admission order on ties), with a fixed
// capacity. Not synchronised: the Scheduler holds the lock.
#include <memory>
#include <set>
#include <vector>

#include "serve/job.h"

namespace cortex::serve {

class EdfQueue {
 public:
  explicit EdfQueue(size_t capacity) : capacity_(capacity) {}

  // False (and the job untouched) when full.
  bool push(std::unique_ptr<Job>& job);
  const Job& earliest() const { return *heap_.front(); }
  // The earliest arrival among the queued jobs (not empty). Kept in a second ordered index, so
  // the workers' per-wake call stays O(1) under the lock even with the queue full.
  Clock::time_point oldest_arrival() const { return *arrivals_.begin(); }
  std::unique_ptr<Job> pop();
  // Removes every job whose deadline is at or before `now`, earliest first.
  std::vector<std::unique_ptr<Job>> pop_expired(Clock::time_point now);

  size_t size() const { return heap_.size(); }
  bool empty() const { return heap_.empty(); }
  bool full() const { return heap_.size() >= capacity_; }
  size_t capacity() const { return capacity_; }

 private:
  struct Later {
    bool operator()(const std::unique_ptr<Job>& a, const std::unique_ptr<Job>& b) const {
      if (a->deadline != b->deadline) return a->deadline > b->deadline;
      return a->sequence > b->sequence;
    }
  };
  size_t capacity_;
  uint64_t next_sequence_ = 0;
  std::vector<std::unique_ptr<Job>> heap_;  // a binary heap under Later
  std::multiset<Clock::time_point> arrivals_;  // the queued jobs' arrival times
};

}  // namespace cortex::serve
