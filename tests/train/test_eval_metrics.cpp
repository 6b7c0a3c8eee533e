#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "train/evaluation_metrics.h"

using namespace cortex::train;

TEST_CASE("r2: hand-computed values per component and their mean") {
  // Component x: target 1, 2, 3, 4 (mean 2.5, SS_tot 5); prediction 1, 2, 3, 5 (SS_res 1) -> 0.8.
  // Component y: target 0, 0, 2, 2 (mean 1, SS_tot 4); prediction 1, 1, 1, 1 (SS_res 4) -> 0.
  const std::vector<float> target{1, 0, 2, 0, 3, 2, 4, 2};
  const std::vector<float> pred{1, 1, 2, 1, 3, 1, 5, 1};
  const R2Score s = r2_score(pred, target, 2);
  REQUIRE(s.per_component.size() == 2);
  CHECK(s.per_component[0] == doctest::Approx(0.8));
  CHECK(s.per_component[1] == doctest::Approx(0.0));
  CHECK(s.mean == doctest::Approx(0.4));
  // Perfect prediction is 1; worse than the mean is negative: -(1 + 1 + 1 + 1 + ...)
  CHECK(r2_score(target, target, 2).mean == doctest::Approx(1.0));
  // x: prediction 4, 3, 2, 1 -> SS_res 9 + 1 + 1 + 9 = 20 -> 1 - 20/5 = -3.
  CHECK(r2_score({4, 3, 2, 1}, {1, 2, 3, 4}, 1).mean == doctest::Approx(-3.0));
}

TEST_CASE("r2: pooling rows from several folds equals scoring them together") {
  R2Accumulator acc(2);
  const std::vector<float> t1{1, 0, 2, 0}, p1{1, 1, 2, 1};
  const std::vector<float> t2{3, 2, 4, 2}, p2{3, 1, 5, 1};
  acc.add(p1.data(), t1.data(), 2);
  acc.add(p2.data(), t2.data(), 2);
  CHECK(acc.rows() == 4);
  CHECK(acc.score().mean == doctest::Approx(0.4));
  // Not the average of per-fold scores: fold 2's x alone (target 3, 4; prediction 3, 5)
  // has its own mean 3.5, SS_tot 0.5 and SS_res 1, so R^2 -1 where pooled x gives 0.8.
  CHECK(r2_score({3, 5}, {3, 4}, 1).mean == doctest::Approx(-1.0));
}

TEST_CASE("r2: sufficient statistics pooled across folds give the pooled score") {
  R2Accumulator a(2), b(2), all(2);
  const std::vector<float> t1{1, 0, 2, 0}, p1{1, 1, 2, 1};
  const std::vector<float> t2{3, 2, 4, 2}, p2{3, 1, 5, 1};
  a.add(p1.data(), t1.data(), 2);
  b.add(p2.data(), t2.data(), 2);
  all.add(p1.data(), t1.data(), 2);
  all.add(p2.data(), t2.data(), 2);
  R2Stats s = a.stats();
  s.merge(b.stats());
  CHECK(s.rows == 4);
  CHECK(s.score().per_component[0] == doctest::Approx(0.8));
  CHECK(s.score().per_component[1] == doctest::Approx(0.0));
  CHECK(s.score().mean == doctest::Approx(all.score().mean));
}

TEST_CASE("r2: bad input is refused") {
  CHECK_THROWS_AS(r2_score({1, 2}, {1, 2, 3}, 1), cortex::Error);
  CHECK_THROWS_AS(r2_score({1, 2, 3}, {1, 2, 3}, 2), cortex::Error);
  CHECK_THROWS_AS(r2_score({}, {}, 1), cortex::Error);
  CHECK_THROWS_AS(r2_score({1, 2}, {3, 3}, 1), cortex::Error);  // constant target
  CHECK_THROWS_AS(r2_score({1, NAN}, {1, 2}, 1), cortex::Error);
}

TEST_CASE("mean and sample std across seeds") {
  const MeanStd m = mean_std({0.5, 0.6, 0.7});
  CHECK(m.mean == doctest::Approx(0.6));
  CHECK(m.std == doctest::Approx(0.1));
  CHECK(m.n == 3);
  CHECK(mean_std({0.3}).std == 0.0);
}
