// The EDF queue, the batch policy and the scheduler's worker: ordering, expiry, batch
// formation, admission control and draining.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "serve/scheduler.h"
#include "tests/test_util.h"

using namespace cortex::serve;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Job> make_job(Clock::time_point deadline, int tag, std::function<void(JobResult&&)> done = {}) {
  auto job = std::make_unique<Job>();
  job->arrival = Clock::now();
  job->deadline = deadline;
  job->window.units = {tag};
  job->done = done ? std::move(done) : [](JobResult&&) {};
  return job;
}

// Collects every answer, thread-safe.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int, JobResult>> got;
  std::function<void(JobResult&&)> callback(int tag) {
    return [this, tag](JobResult&& r) {
      std::lock_guard<std::mutex> lock(mu);
      got.emplace_back(tag, std::move(r));
      cv.notify_all();
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, limit, [&] { return got.size() >= n; });
  }
};

}  // namespace

TEST_CASE("EdfQueue pops earliest deadline first, admission order on ties, and refuses when full") {
  EdfQueue q(4);
  const Clock::time_point t0 = Clock::now() + 1h;
  auto a = make_job(t0 + 30ms, 0), b = make_job(t0 + 10ms, 1), c = make_job(t0 + 20ms, 2), d = make_job(t0 + 10ms, 3);
  REQUIRE(q.push(a));
  REQUIRE(q.push(b));
  REQUIRE(q.push(c));
  REQUIRE(q.push(d));
  auto e = make_job(t0, 4);
  CHECK_FALSE(q.push(e));
  CHECK(e != nullptr);  // a refused job stays with the caller
  CHECK(q.full());
  std::vector<int> order;
  while (!q.empty()) order.push_back(q.pop()->window.units[0]);
  CHECK(order == std::vector<int>{1, 3, 2, 0});
}

TEST_CASE("EdfQueue::pop_expired removes exactly the jobs whose deadline has passed") {
  EdfQueue q(8);
  const Clock::time_point now = Clock::now();
  for (int i = 0; i < 6; ++i) {
    auto j = make_job(now + std::chrono::milliseconds(10 * (i - 3)), i);  // -30, -20, -10, 0, 10, 20 ms
    q.push(j);
  }
  const auto expired = q.pop_expired(now);
  REQUIRE(expired.size() == 4);  // the deadline exactly at `now` has passed too
  for (size_t i = 0; i < expired.size(); ++i) CHECK(expired[i]->window.units[0] == static_cast<int>(i));
  CHECK(q.size() == 2);
  CHECK(q.earliest().window.units[0] == 4);
}

TEST_CASE("EdfQueue::oldest_arrival is the earliest arrival, whatever the deadlines") {
  EdfQueue q(4);
  const Clock::time_point t0 = Clock::now();
  auto late_deadline = make_job(t0 + 1h, 0), early_deadline = make_job(t0 + 1min, 1);
  late_deadline->arrival = t0 - 30ms;  // queued first, due last
  early_deadline->arrival = t0 - 5ms;
  REQUIRE(q.push(early_deadline));
  REQUIRE(q.push(late_deadline));
  CHECK(q.earliest().window.units[0] == 1);
  CHECK(q.oldest_arrival() == t0 - 30ms);
  q.pop();
  CHECK(q.oldest_arrival() == t0 - 30ms);
}

TEST_CASE("EdfQueue::oldest_arrival follows pushes, pops and expiry with equal arrivals") {
  // Checked against a scan of what is left, over random deadlines and arrivals that repeat.
  EdfQueue q(64);
  std::mt19937 rng(7);
  const Clock::time_point t0 = Clock::now();
  std::vector<std::pair<int, Clock::time_point>> queued;  // id, arrival
  int next_id = 0;
  for (int step = 0; step < 2000; ++step) {
    const int action = static_cast<int>(rng() % 3);
    if (action < 2 && !q.full()) {
      auto j = make_job(t0 + std::chrono::milliseconds(rng() % 50), next_id);
      j->arrival = t0 - std::chrono::milliseconds(rng() % 8);
      queued.emplace_back(next_id++, j->arrival);
      REQUIRE(q.push(j));
    } else if (!q.empty()) {
      std::vector<std::unique_ptr<Job>> gone;
      if (action == 2 && rng() % 4 == 0) gone = q.pop_expired(t0 + std::chrono::milliseconds(rng() % 10));
      else gone.push_back(q.pop());
      for (const auto& job : gone) {
        const int id = job->window.units[0];
        std::erase_if(queued, [&](const auto& e) { return e.first == id; });
      }
    }
    REQUIRE(q.size() == queued.size());
    if (queued.empty()) continue;
    Clock::time_point oldest = queued.front().second;
    for (const auto& e : queued) oldest = std::min(oldest, e.second);
    REQUIRE(q.oldest_arrival() == oldest);
  }
}

TEST_CASE("decide_batch waits only while the earliest deadline has slack") {
  BatchPolicy p;
  p.max_batch = 8;
  p.max_wait = 5ms;
  const Clock::time_point now = Clock::now();
  // Plenty of slack: wait, but no longer than max_wait from when the batch opened.
  const Clock::time_point soon = now + 1ms;  // the next arrival
  BatchDecision d = decide_batch(p, now, now, now + 100ms, 2, 10ms, soon);
  CHECK_FALSE(d.run_now);
  CHECK(d.wait_until == now + 5ms);
  // Slack smaller than max_wait: wait until the last moment the earliest job can start.
  d = decide_batch(p, now, now, now + 12ms, 2, 10ms, soon);
  CHECK_FALSE(d.run_now);
  CHECK(d.wait_until == now + 2ms);
  // No slack left: run now.
  CHECK(decide_batch(p, now, now, now + 9ms, 2, 10ms, soon).run_now);
  // A full batch runs at once.
  CHECK(decide_batch(p, now, now, now + 100ms, 8, 1ms, soon).run_now);
  // The batch has been open for max_wait already.
  CHECK(decide_batch(p, now, now - 6ms, now + 100ms, 1, 1ms, soon).run_now);
  // Low load: no request is expected before the wait would end, so waiting buys nothing.
  CHECK(decide_batch(p, now, now, now + 100ms, 1, 1ms, now + 20ms).run_now);
  // Batching off: always at once.
  p.batching = false;
  CHECK(decide_batch(p, now, now, now + 100ms, 1, 1ms, soon).run_now);
}

TEST_CASE("ArrivalEstimator predicts the next arrival from the mean gap") {
  ArrivalEstimator a;
  const Clock::time_point t0 = Clock::now();
  CHECK(a.next_expected() == Clock::time_point::max());
  a.arrived(t0);
  CHECK(a.next_expected() == Clock::time_point::max());
  a.arrived(t0 + 10ms);
  CHECK(a.next_expected() == t0 + 20ms);
  a.arrived(t0 + 20ms);
  CHECK(a.next_expected() == t0 + 30ms);
}

TEST_CASE("ComputeEstimator follows measurements and extrapolates to unseen sizes") {
  ComputeEstimator e;
  CHECK(e.estimate(4) == Clock::duration::zero());
  e.observe(1, 0.010);
  CHECK(std::chrono::duration<double>(e.estimate(1)).count() == doctest::Approx(0.010));
  CHECK(std::chrono::duration<double>(e.estimate(4)).count() == doctest::Approx(0.040));  // linear from size 1
  e.observe(4, 0.020);
  CHECK(std::chrono::duration<double>(e.estimate(4)).count() == doctest::Approx(0.020));
  CHECK(std::chrono::duration<double>(e.estimate(5)).count() == doctest::Approx(0.025));
}

TEST_CASE("Scheduler batches queued jobs in deadline order up to max_batch") {
  std::mutex mu;
  std::vector<std::vector<int>> batches;
  std::atomic<bool> gate{false};
  BatchPolicy p;
  p.max_batch = 3;
  p.max_wait = 50ms;
  Answers answers;
  Scheduler s(p, 16, [&](std::vector<std::unique_ptr<Job>>& batch) {
    while (!gate) std::this_thread::sleep_for(1ms);  // holds the first batch until all are queued
    std::vector<int> tags;
    for (auto& j : batch) {
      tags.push_back(j->window.units[0]);
      JobResult r;
      r.batch_size = static_cast<int>(batch.size());
      j->done(std::move(r));
    }
    std::lock_guard<std::mutex> lock(mu);
    batches.push_back(tags);
  });
  s.start();
  const Clock::time_point t0 = Clock::now() + 10s;
  auto first = make_job(t0, 100, answers.callback(100));
  REQUIRE_FALSE(s.submit(first));
  // While the first batch is held, queue 7 more with shuffled deadlines.
  const int deadlines_ms[] = {70, 10, 60, 20, 50, 30, 40};
  for (int i = 0; i < 7; ++i) {
    auto j = make_job(t0 + std::chrono::milliseconds(deadlines_ms[i]), deadlines_ms[i], answers.callback(i));
    REQUIRE_FALSE(s.submit(j));
  }
  gate = true;
  REQUIRE(answers.wait_for(8));
  s.drain();
  std::lock_guard<std::mutex> lock(mu);
  // The first job may have run alone or with early arrivals; after it, batches of at most 3
  // in deadline order.
  std::vector<int> flat;
  for (const auto& b : batches) {
    CHECK(b.size() <= 3u);
    flat.insert(flat.end(), b.begin(), b.end());
  }
  std::vector<int> rest(flat.begin() + static_cast<long>(batches[0].size()), flat.end());
  CHECK(std::is_sorted(rest.begin(), rest.end()));
  CHECK(flat.size() == 8u);
  CHECK(batches.back().size() >= 1u);
  // With a full queue, batches are full: 7 queued jobs after the first make 3 + 3 + 1 at most.
  CHECK(batches.size() <= 4u);
}

TEST_CASE("Scheduler runs jobs that queued behind a batch once the worker is free, not max_wait later") {
  // max_wait counts from a job's arrival: jobs that waited out a slow batch have waited long
  // enough and must not be held open for another max_wait (the device would idle meanwhile).
  std::mutex mu;
  std::vector<Clock::time_point> starts;
  std::vector<size_t> sizes;
  BatchPolicy p;
  p.max_batch = 8;
  p.max_wait = 300ms;
  Answers answers;
  Scheduler s(p, 16, [&](std::vector<std::unique_ptr<Job>>& batch) {
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      starts.push_back(Clock::now());
      sizes.push_back(batch.size());
      first = starts.size() == 1;
    }
    if (first) std::this_thread::sleep_for(400ms);
    for (auto& j : batch) {
      JobResult r;
      j->done(std::move(r));
    }
  });
  s.start();
  const Clock::time_point far = Clock::now() + 60s;
  auto lone = make_job(far, 0, answers.callback(0));
  REQUIRE_FALSE(s.submit(lone));  // an idle worker, no next arrival expected yet: runs at once
  std::this_thread::sleep_for(30ms);
  for (int tag = 1; tag <= 3; ++tag) {  // back-to-back arrivals: more are expected soon
    auto j = make_job(far, tag, answers.callback(tag));
    REQUIRE_FALSE(s.submit(j));
  }
  REQUIRE(answers.wait_for(4));
  s.drain();
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(starts.size() == 2u);
  CHECK(sizes == std::vector<size_t>{1, 3});
  // The second batch starts when the first ends (400 ms), not 300 ms after that.
  CHECK(starts[1] - starts[0] < 600ms);
}

TEST_CASE("Scheduler answers expired jobs with a timeout and never runs them") {
  std::atomic<int> ran{0};
  BatchPolicy p;
  p.max_batch = 4;
  p.max_wait = 0ms;
  std::atomic<bool> gate{false};
  Scheduler s(p, 16, [&](std::vector<std::unique_ptr<Job>>& batch) {
    while (!gate) std::this_thread::sleep_for(1ms);
    for (auto& j : batch) {
      ++ran;
      JobResult r;
      j->done(std::move(r));
    }
  });
  s.start();
  Answers answers;
  auto blocker = make_job(Clock::now() + 10s, 0, answers.callback(0));
  REQUIRE_FALSE(s.submit(blocker));
  std::this_thread::sleep_for(20ms);  // the worker is now inside the blocked batch
  auto doomed = make_job(Clock::now() + 5ms, 1, answers.callback(1));
  auto fine = make_job(Clock::now() + 10s, 2, answers.callback(2));
  REQUIRE_FALSE(s.submit(doomed));
  REQUIRE_FALSE(s.submit(fine));
  std::this_thread::sleep_for(30ms);  // the doomed job's deadline passes while it waits
  gate = true;
  REQUIRE(answers.wait_for(3));
  s.drain();
  CHECK(ran == 2);
  for (auto& [tag, r] : answers.got) {
    if (tag == 1) {
      CHECK(r.error.reason == Rejection::deadline_expired);
      CHECK(r.error.message.find("deadline") != std::string::npos);
    } else {
      CHECK_FALSE(r.error);
    }
  }
}

TEST_CASE("Scheduler refuses beyond capacity, then while draining, and answers every admitted job") {
  std::atomic<bool> gate{false};
  BatchPolicy p;
  p.max_batch = 1;
  p.batching = false;
  Scheduler s(p, 3, [&](std::vector<std::unique_ptr<Job>>& batch) {
    while (!gate) std::this_thread::sleep_for(1ms);
    for (auto& j : batch) {
      JobResult r;
      j->done(std::move(r));
    }
  });
  s.start();
  Answers answers;
  int admitted = 0, refused = 0;
  for (int i = 0; i < 10; ++i) {
    auto j = make_job(Clock::now() + 10s, i, answers.callback(i));
    const RequestError e = s.submit(j);
    if (e) {
      CHECK(e.reason == Rejection::queue_full);
      CHECK(j != nullptr);
      ++refused;
    } else {
      ++admitted;
    }
    if (i == 0) std::this_thread::sleep_for(20ms);  // the first is running, not queued
  }
  CHECK(admitted == 4);  // one running plus a full queue of 3
  CHECK(refused == 6);
  s.stop_admitting();
  auto late = make_job(Clock::now() + 10s, 99, answers.callback(99));
  CHECK(s.submit(late).reason == Rejection::draining);
  gate = true;
  s.drain();
  CHECK(answers.got.size() == 4u);
  for (auto& [tag, r] : answers.got) CHECK_FALSE(r.error);
  CHECK(s.outstanding() == 0u);
}
