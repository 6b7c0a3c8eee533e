// The scheduler with several workers: every admitted job answered exactly once, batches
// within max_batch and in deadline order, expired jobs never run, drain with batches in
// flight, and batches of different workers really running at the same time.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "serve/scheduler.h"
#include "tests/test_util.h"

using namespace cortex::serve;
using namespace std::chrono_literals;

namespace {

// A fake model: sleeps per batch, records each batch's tags and how many batches overlapped.
struct SleepyRun {
  explicit SleepyRun(std::chrono::milliseconds per_batch) : sleep(per_batch) {}
  std::chrono::milliseconds sleep;
  std::mutex mu;
  std::vector<std::vector<int>> batches;
  std::atomic<int> running{0};
  std::atomic<int> most_running{0};

  Scheduler::RunBatch fn() {
    return [this](std::vector<std::unique_ptr<Job>>& batch) {
      const int now = ++running;
      int seen = most_running.load();
      while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
      }
      std::vector<int> tags;
      for (auto& j : batch) tags.push_back(j->window.units[0]);
      std::this_thread::sleep_for(sleep);
      --running;
      {
        std::lock_guard<std::mutex> lock(mu);
        batches.push_back(tags);
      }
      for (auto& j : batch) {
        JobResult r;
        r.batch_size = static_cast<int>(batch.size());
        j->done(std::move(r));
      }
    };
  }
};

// Counts answers per tag (thread-safe).
struct Tally {
  std::mutex mu;
  std::condition_variable cv;
  std::map<int, int> answers;
  std::map<int, Rejection> reasons;
  size_t total = 0;
  std::function<void(JobResult&&)> callback(int tag) {
    return [this, tag](JobResult&& r) {
      std::lock_guard<std::mutex> lock(mu);
      ++answers[tag];
      if (r.error) reasons[tag] = r.error.reason;
      ++total;
      cv.notify_all();
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds limit = 10000ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, limit, [&] { return total >= n; });
  }
};

std::unique_ptr<Job> job_with(Clock::time_point deadline, int tag, std::function<void(JobResult&&)> done) {
  auto job = std::make_unique<Job>();
  job->arrival = Clock::now();
  job->deadline = deadline;
  job->window.units = {tag};
  job->done = std::move(done);
  return job;
}

}  // namespace

TEST_CASE("Scheduler with 2 and 4 workers answers every job once, within max_batch, each batch in deadline order") {
  for (int workers : {2, 4}) {
    CAPTURE(workers);
    SleepyRun run(5ms);
    BatchPolicy p;
    p.max_batch = 4;
    p.max_wait = 1ms;
    Tally tally;
    Scheduler s(p, 512, run.fn(), nullptr, workers);
    CHECK(s.workers() == workers);
    s.start();
    const Clock::time_point t0 = Clock::now() + 30s;
    const int jobs = 300;
    // Submitted from two threads, deadlines shuffled so EDF order differs from arrival order.
    auto submit_range = [&](int begin, int end) {
      for (int i = begin; i < end; ++i) {
        auto j = job_with(t0 + std::chrono::milliseconds((i * 37) % 101), i, tally.callback(i));
        REQUIRE_FALSE(s.submit(j));
        if (i % 16 == 0) std::this_thread::sleep_for(1ms);
      }
    };
    std::thread a(submit_range, 0, jobs / 2), b(submit_range, jobs / 2, jobs);
    a.join();
    b.join();
    REQUIRE(tally.wait_for(jobs));
    s.drain();
    CHECK(s.outstanding() == 0u);
    CHECK(tally.answers.size() == static_cast<size_t>(jobs));
    for (const auto& [tag, n] : tally.answers) CHECK(n == 1);
    CHECK(tally.reasons.empty());
    size_t ran = 0;
    for (const auto& batch : run.batches) {
      CHECK(batch.size() >= 1u);
      CHECK(batch.size() <= 4u);
      ran += batch.size();
      // Deadlines inside one batch never decrease (the queue is popped earliest first).
      std::vector<int> due;
      for (int tag : batch) due.push_back((tag * 37) % 101);
      CHECK(std::is_sorted(due.begin(), due.end()));
    }
    CHECK(ran == static_cast<size_t>(jobs));
  }
}

TEST_CASE("Scheduler workers run batches concurrently") {
  for (int workers : {2, 4}) {
    CAPTURE(workers);
    SleepyRun run(40ms);
    BatchPolicy p;
    p.max_batch = 2;
    p.max_wait = 0ms;
    Tally tally;
    Scheduler s(p, 64, run.fn(), nullptr, workers);
    s.start();
    const int jobs = 4 * workers;
    for (int i = 0; i < jobs; ++i) {
      auto j = job_with(Clock::now() + 30s, i, tally.callback(i));
      REQUIRE_FALSE(s.submit(j));
    }
    REQUIRE(tally.wait_for(jobs));
    s.drain();
    CHECK(run.most_running.load() >= 2);
    CHECK(run.most_running.load() <= workers);
  }
}

TEST_CASE("Scheduler with one worker never overlaps batches") {
  SleepyRun run(10ms);
  BatchPolicy p;
  p.max_batch = 2;
  p.max_wait = 0ms;
  Tally tally;
  Scheduler s(p, 64, run.fn(), nullptr, 1);
  s.start();
  for (int i = 0; i < 12; ++i) {
    auto j = job_with(Clock::now() + 30s, i, tally.callback(i));
    REQUIRE_FALSE(s.submit(j));
  }
  REQUIRE(tally.wait_for(12));
  s.drain();
  CHECK(run.most_running.load() == 1);
}

TEST_CASE("Scheduler with several workers never runs expired jobs") {
  std::atomic<bool> gate{false};
  std::atomic<int> ran_doomed{0}, ran{0};
  BatchPolicy p;
  p.max_batch = 4;
  p.max_wait = 0ms;
  Scheduler s(
      p, 64,
      [&](std::vector<std::unique_ptr<Job>>& batch) {
        while (!gate) std::this_thread::sleep_for(1ms);
        for (auto& j : batch) {
          ++ran;
          if (j->window.units[0] >= 100) ++ran_doomed;
          JobResult r;
          j->done(std::move(r));
        }
      },
      nullptr, 2);
  s.start();
  Tally tally;
  // Two blockers occupy both workers.
  for (int i = 0; i < 2; ++i) {
    auto blocker = job_with(Clock::now() + 30s, i, tally.callback(i));
    REQUIRE_FALSE(s.submit(blocker));
    std::this_thread::sleep_for(20ms);
  }
  for (int i = 0; i < 6; ++i) {
    auto doomed = job_with(Clock::now() + 5ms, 100 + i, tally.callback(100 + i));
    REQUIRE_FALSE(s.submit(doomed));
    auto fine = job_with(Clock::now() + 30s, 10 + i, tally.callback(10 + i));
    REQUIRE_FALSE(s.submit(fine));
  }
  std::this_thread::sleep_for(40ms);  // the doomed jobs' deadlines pass while both workers are busy
  gate = true;
  REQUIRE(tally.wait_for(14));
  s.drain();
  CHECK(ran_doomed == 0);
  CHECK(ran == 8);
  for (int i = 0; i < 6; ++i) {
    CHECK(tally.answers[100 + i] == 1);
    CHECK(tally.reasons[100 + i] == Rejection::deadline_expired);
    CHECK(tally.answers[10 + i] == 1);
    CHECK(tally.reasons.count(10 + i) == 0);
  }
}

TEST_CASE("Scheduler drain with batches in flight on several workers answers everything admitted, then stops") {
  for (int workers : {2, 4}) {
    CAPTURE(workers);
    SleepyRun run(15ms);
    BatchPolicy p;
    p.max_batch = 3;
    p.max_wait = 0ms;
    Tally tally;
    Scheduler s(p, 256, run.fn(), nullptr, workers);
    s.start();
    const int jobs = 60;
    for (int i = 0; i < jobs; ++i) {
      auto j = job_with(Clock::now() + 30s, i, tally.callback(i));
      REQUIRE_FALSE(s.submit(j));
    }
    std::this_thread::sleep_for(5ms);  // batches are running now
    CHECK(s.outstanding() > 0u);
    s.stop_admitting();
    auto late = job_with(Clock::now() + 30s, 999, tally.callback(999));
    CHECK(s.submit(late).reason == Rejection::draining);
    s.drain();  // returns only when every admitted job is answered
    CHECK(tally.total == static_cast<size_t>(jobs));
    for (const auto& [tag, n] : tally.answers) CHECK(n == 1);
    CHECK(tally.reasons.empty());
    CHECK(s.outstanding() == 0u);
    CHECK(tally.answers.count(999) == 0);
  }
}

TEST_CASE("Scheduler refuses zero workers") {
  BatchPolicy p;
  CHECK_THROWS_WITH_AS(Scheduler(p, 4, [](std::vector<std::unique_ptr<Job>>&) {}, nullptr, 0),
                       doctest::Contains("at least one worker"), cortex::Error);
}
