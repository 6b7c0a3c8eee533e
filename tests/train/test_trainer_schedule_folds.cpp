#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "engine/error.h"
#include "train/folds.h"
#include "train/schedule.h"

using namespace cortex::train;

TEST_CASE("cosine schedule: warmup ramp, cosine decay, floor") {
  CosineSchedule s({.peak_lr = 1.0, .min_lr = 0.1, .warmup_steps = 4, .total_steps = 14});
  CHECK(s.lr(0) == doctest::Approx(0.25));
  CHECK(s.lr(1) == doctest::Approx(0.5));
  CHECK(s.lr(3) == doctest::Approx(1.0));
  CHECK(s.lr(4) == doctest::Approx(1.0));  // cosine starts at the peak
  // Halfway through the 10 decay steps: min + (peak - min) / 2.
  CHECK(s.lr(9) == doctest::Approx(0.55));
  CHECK(s.lr(6) == doctest::Approx(0.1 + 0.45 * (1 + std::cos(std::numbers::pi * 0.2))));
  CHECK(s.lr(14) == doctest::Approx(0.1));
  CHECK(s.lr(100) == doctest::Approx(0.1));
  for (int64_t t = 4; t < 14; ++t) CHECK(s.lr(t + 1) <= s.lr(t));

  CosineSchedule no_warmup({.peak_lr = 2.0, .min_lr = 0.0, .warmup_steps = 0, .total_steps = 2});
  CHECK(no_warmup.lr(0) == doctest::Approx(2.0));
  CHECK(no_warmup.lr(1) == doctest::Approx(1.0));

  CHECK_THROWS_AS(CosineSchedule({.peak_lr = 1.0, .min_lr = 2.0}), cortex::Error);
  CHECK_THROWS_AS(CosineSchedule({.peak_lr = 1.0, .warmup_steps = 5, .total_steps = 4}), cortex::Error);
  CHECK_THROWS_AS(CosineSchedule({.peak_lr = -1.0}), cortex::Error);
}

TEST_CASE("folds: trial i in fold i mod 5") {
  CHECK(fold_of(0, 5) == 0);
  CHECK(fold_of(7, 5) == 2);
  CHECK(fold_of(74, 5) == 4);
  const FoldSplit s = fold_split(75, 2, 5);
  REQUIRE(s.test.size() == 15);
  REQUIRE(s.train.size() == 60);
  CHECK(s.test.front() == 2);
  CHECK(s.test[1] == 7);
  CHECK(s.test.back() == 72);
  for (int64_t t : s.test) CHECK(t % 5 == 2);
  for (int64_t t : s.train) CHECK(t % 5 != 2);
  // Every trial is held out exactly once across the folds.
  std::vector<int> seen(75, 0);
  for (int64_t f = 0; f < 5; ++f)
    for (int64_t t : fold_split(75, f, 5).test) ++seen[t];
  for (int c : seen) CHECK(c == 1);
  // 12 trials, 5 folds: folds 0 and 1 get 3 trials, the others 2.
  CHECK(fold_split(12, 1, 5).test == std::vector<int64_t>{1, 6, 11});
  CHECK(fold_split(12, 4, 5).test == std::vector<int64_t>{4, 9});
  CHECK_THROWS_AS(fold_split(75, 5, 5), cortex::Error);
  CHECK_THROWS_AS(fold_split(3, 0, 5), cortex::Error);
  CHECK_THROWS_AS(fold_split(75, 0, 1), cortex::Error);
}
