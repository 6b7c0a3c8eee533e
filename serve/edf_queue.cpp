#include "serve/edf_queue.h"

#include <algorithm>

namespace cortex::serve {

bool EdfQueue::push(std::unique_ptr<Job>& job) {
  if (full()) return false;
  job->sequence = next_sequence_++;
  arrivals_.insert(job->arrival);
  heap_.push_back(std::move(job));
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return true;
}

std::unique_ptr<Job> EdfQueue::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  std::unique_ptr<Job> job = std::move(heap_.back());
  heap_.pop_back();
  arrivals_.erase(arrivals_.find(job->arrival));
  return job;
}

std::vector<std::unique_ptr<Job>> EdfQueue::pop_expired(Clock::time_point now) {
  std::vector<std::unique_ptr<Job>> expired;
  while (!heap_.empty() && heap_.front()->deadline <= now) expired.push_back(pop());
  return expired;
}

}  // namespace cortex::serve
