#include "train/data/synth.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/parallel.h"
#include "train/data/nwb_writer.h"

namespace cortex::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDt = 0.001;       // simulation grid (s)
constexpr double kSpeedRef = 500;   // mm/s at which a unit's depth is reached
constexpr double kPrivateHz = 4;    // std of each unit's private slow input
constexpr double kPrivateTau = 0.3; // its time constant (s)

// xoshiro256** seeded through splitmix64; one stream per purpose (and per unit), so a unit's
// spikes do not depend on how many random numbers other parts drew.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (stream + 1) * 0xD1B54A32D192ED03ull;
    for (auto& s : s_) s = splitmix(x);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * uniform());
  }
  double exponential() { return -std::log(1.0 - uniform()); }
  int64_t below(int64_t n) { return std::min<int64_t>(n - 1, static_cast<int64_t>(uniform() * static_cast<double>(n))); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

enum Stream : uint64_t {
  kTimeline = 0, kTremor = 1, kLatent = 2, kTuning = 3, kHeldout = 4,
  kUnitSpikes = 1000, kUnitPrivate = 1000000000
};

// A straight-or-curved minimum-jerk movement by (dx, dy) mm over `duration` s.
struct Movement {
  double t0, duration, dx, dy, curve;
};

struct Delay {
  double target_on, move_onset, angle;
};

struct Timeline {
  std::vector<Trial> trials;
  std::vector<Movement> moves;
  std::vector<Delay> delays;
  double end = 0;
};

Timeline plan_session(const SynthConfig& c) {
  Rng rng(c.seed, kTimeline);
  Timeline tl;
  double t = 0.5;
  for (int64_t k = 0; k < c.trials; ++k) {
    const double start = t;
    const double onset = start + rng.uniform(0.4, 0.9);
    const double angle = 2 * kPi * static_cast<double>(rng.below(c.targets)) / static_cast<double>(c.targets) +
                         0.1 * rng.normal();
    const double distance = rng.uniform(80, 120);
    const double reach = rng.uniform(0.35, 0.55);
    const double dx = distance * std::cos(angle), dy = distance * std::sin(angle);
    tl.moves.push_back({onset, reach, dx, dy, rng.uniform(-0.25, 0.25)});
    tl.delays.push_back({start, onset, angle});
    const double stop = onset + reach + rng.uniform(0.25, 0.4);
    tl.trials.push_back({start, stop, onset});
    const double back = stop + rng.uniform(0.05, 0.15);
    const double back_duration = rng.uniform(0.4, 0.6);
    tl.moves.push_back({back, back_duration, -dx, -dy, rng.uniform(-0.1, 0.1)});
    t = back + back_duration + rng.uniform(0.2, 0.5);
  }
  tl.end = t;
  return tl;
}

// Adds a movement's velocity (mm/s) on the grid.
void add_movement(const Movement& m, std::vector<double>& vx, std::vector<double>& vy) {
  const double distance = std::hypot(m.dx, m.dy);
  const double ux = m.dx / distance, uy = m.dy / distance;
  const int64_t first = static_cast<int64_t>(std::ceil(m.t0 / kDt));
  const int64_t last = std::min<int64_t>(static_cast<int64_t>(vx.size()) - 1,
                                         static_cast<int64_t>(std::floor((m.t0 + m.duration) / kDt)));
  for (int64_t n = first; n <= last; ++n) {
    const double s = (static_cast<double>(n) * kDt - m.t0) / m.duration;
    // Minimum-jerk: position fraction 10s^3 - 15s^4 + 6s^5, so speed R/D * 30 s^2 (1-s)^2;
    // the sideways bulge c*R*16 s^2 (1-s)^2 curves the path and returns to it.
    const double along = distance / m.duration * 30 * s * s * (1 - s) * (1 - s);
    const double side = m.curve * distance / m.duration * 32 * s * (1 - s) * (1 - 2 * s);
    vx[static_cast<size_t>(n)] += along * ux - side * uy;
    vy[static_cast<size_t>(n)] += along * uy + side * ux;
  }
}

// Ornstein-Uhlenbeck samples on the grid: stationary std `sigma`, time constant `tau`.
std::vector<double> ou_process(Rng& rng, size_t n, double sigma, double tau) {
  std::vector<double> x(n);
  const double a = std::exp(-kDt / tau), b = sigma * std::sqrt(1 - a * a);
  double v = sigma * rng.normal();
  for (size_t i = 0; i < n; ++i) {
    x[i] = v;
    v = a * v + b * rng.normal();
  }
  return x;
}

struct Tuning {
  double baseline, depth, pd_x, pd_y, speed, prep, prep_x, prep_y, gain_weight;
};

Tuning draw_tuning(Rng& rng) {
  Tuning u;
  u.baseline = std::exp(rng.uniform(std::log(2.0), std::log(20.0)));
  u.depth = rng.uniform() < 0.25 ? rng.uniform(0, 3) : rng.uniform(4, 15);
  const double pd = rng.uniform(0, 2 * kPi);
  u.pd_x = std::cos(pd), u.pd_y = std::sin(pd);
  u.speed = rng.uniform(0, 8);
  u.prep = rng.uniform(0, 10);
  const double prep_angle = pd + 0.8 * rng.normal();
  u.prep_x = std::cos(prep_angle), u.prep_y = std::sin(prep_angle);
  u.gain_weight = rng.uniform(0.5, 1.5);
  return u;
}

}  // namespace

Recording synthesize(const SynthConfig& c) {
  CORTEX_CHECK(c.units >= 1 && c.trials >= 1, "synthesize", "need units >= 1 and trials >= 1, got units=", c.units,
               " trials=", c.trials);
  CORTEX_CHECK(c.heldout_fraction >= 0 && c.heldout_fraction < 1, "synthesize",
               "heldout_fraction must be in [0, 1), got ", c.heldout_fraction);
  CORTEX_CHECK(c.lag_s >= 0 && c.lag_s < 1, "synthesize", "lag_s must be in [0, 1), got ", c.lag_s);
  CORTEX_CHECK(c.behavior_rate_hz >= 10 && c.behavior_rate_hz <= 10000, "synthesize",
               "behavior_rate_hz must be in [10, 10000], got ", c.behavior_rate_hz);
  CORTEX_CHECK(c.targets >= 1, "synthesize", "targets must be >= 1, got ", c.targets);

  const Timeline tl = plan_session(c);
  const int64_t lag_steps = static_cast<int64_t>(std::llround(c.lag_s / kDt));
  const size_t steps = static_cast<size_t>(std::ceil(tl.end / kDt)) + 1;
  const size_t grid = steps + static_cast<size_t>(lag_steps) + 1;

  // Hand velocity on the grid (mm/s): planned movements plus a small tremor.
  std::vector<double> vx(grid, 0.0), vy(grid, 0.0);
  for (const auto& m : tl.moves) add_movement(m, vx, vy);
  Rng tremor_rng(c.seed, kTremor);
  const auto tremor_x = ou_process(tremor_rng, grid, 10.0, 0.05);
  const auto tremor_y = ou_process(tremor_rng, grid, 10.0, 0.05);
  for (size_t n = 0; n < grid; ++n) vx[n] += tremor_x[n], vy[n] += tremor_y[n];

  // Preparatory signal: the target direction, rising after target onset, decaying after movement onset.
  std::vector<double> px(steps, 0.0), py(steps, 0.0);
  for (const auto& d : tl.delays) {
    const size_t first = static_cast<size_t>(std::ceil(d.target_on / kDt));
    for (size_t n = first; n < steps; ++n) {
      const double t = static_cast<double>(n) * kDt;
      const double rise = std::min(1.0, (t - d.target_on) / 0.15);
      const double amp = t < d.move_onset ? rise : rise * std::exp(-(t - d.move_onset) / 0.15);
      if (t > d.move_onset + 1.0) break;
      px[n] += amp * std::cos(d.angle), py[n] += amp * std::sin(d.angle);
    }
  }

  // Shared slow gain fluctuation exp(0.3 * OU), mixed into each unit with its own weight.
  Rng latent_rng(c.seed, kLatent);
  std::vector<double> gain = ou_process(latent_rng, steps, 1.0, 2.0);
  for (double& g : gain) g = std::exp(0.3 * g) - 1.0;
  std::vector<double> fx(steps), fy(steps), speed(steps);
  for (size_t n = 0; n < steps; ++n) {
    fx[n] = vx[n + static_cast<size_t>(lag_steps)] / kSpeedRef;
    fy[n] = vy[n + static_cast<size_t>(lag_steps)] / kSpeedRef;
    speed[n] = std::hypot(fx[n], fy[n]);
  }

  Recording rec;
  rec.trials = tl.trials;
  rec.units.resize(static_cast<size_t>(c.units));
  Rng tuning_rng(c.seed, kTuning);
  std::vector<Tuning> tuning;
  for (int64_t i = 0; i < c.units; ++i) tuning.push_back(draw_tuning(tuning_rng));
  // Units are independent given the shared signals and draw from their own streams, so they
  // run in parallel and the result does not depend on the thread count.
  parallel_for(c.units, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> rate(steps);
    for (int64_t i = begin; i < end; ++i) {
      const Tuning& u = tuning[static_cast<size_t>(i)];
      // Private slow input (OU on a 10 ms grid, held): rate changes the behaviour does not explain.
      Rng private_rng(c.seed, kUnitPrivate + static_cast<uint64_t>(i));
      const auto own = ou_process(private_rng, steps / 10 + 1, kPrivateHz, kPrivateTau / 10);
      for (size_t n = 0; n < steps; ++n) {
        const double drive = own[n / 10] + u.baseline + u.depth * (fx[n] * u.pd_x + fy[n] * u.pd_y) +
                             u.speed * speed[n] + u.prep * (px[n] * u.prep_x + py[n] * u.prep_y);
        rate[n] = std::max(0.0, drive * (1.0 + u.gain_weight * gain[n]));
      }
      // Time rescaling: a spike whenever the integrated rate passes the next unit exponential.
      Rng spike_rng(c.seed, kUnitSpikes + static_cast<uint64_t>(i));
      Unit& unit = rec.units[static_cast<size_t>(i)];
      unit.id = i;
      double acc = 0, threshold = spike_rng.exponential();
      for (size_t n = 0; n + 1 < steps; ++n) {
        const double lam = rate[n] * kDt;
        if (lam <= 0) continue;
        double remaining = lam, consumed = 0;
        while (acc + remaining >= threshold) {
          const double need = threshold - acc;
          consumed += need;
          unit.spike_times.push_back((static_cast<double>(n) + consumed / lam) * kDt);
          remaining -= need;
          acc = 0;
          threshold = spike_rng.exponential();
        }
        acc += remaining;
      }
    }
  });

  Rng heldout_rng(c.seed, kHeldout);
  std::vector<int64_t> order(static_cast<size_t>(c.units));
  std::iota(order.begin(), order.end(), 0);
  for (size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[static_cast<size_t>(heldout_rng.below(static_cast<int64_t>(k)))]);
  const auto n_heldout = static_cast<size_t>(std::llround(c.heldout_fraction * static_cast<double>(c.units)));
  for (size_t k = 0; k < n_heldout; ++k) rec.units[static_cast<size_t>(order[k])].heldout = true;

  BehaviorSeries vel;
  vel.name = "hand_vel";
  vel.unit = "mm/s";
  vel.channels = 2;
  const auto samples = static_cast<int64_t>(std::floor(tl.end * c.behavior_rate_hz)) + 1;
  for (int64_t j = 0; j < samples; ++j) {
    const double t = static_cast<double>(j) / c.behavior_rate_hz;
    const double pos = t / kDt;
    const size_t n = std::min(static_cast<size_t>(pos), grid - 2);
    const double frac = pos - static_cast<double>(n);
    vel.timestamps.push_back(t);
    vel.data.push_back(vx[n] + frac * (vx[n + 1] - vx[n]));
    vel.data.push_back(vy[n] + frac * (vy[n + 1] - vy[n]));
  }
  rec.behavior.push_back(std::move(vel));
  return rec;
}

void write_synthetic_nwb(const std::string& file, const SynthConfig& config) {
  const Recording rec = synthesize(config);
  NwbWriteOptions options;
  const int64_t spikes = rec.spike_count();
  options.index_type = spikes <= UINT8_MAX    ? h5::IntType::u8
                       : spikes <= UINT16_MAX ? h5::IntType::u16
                       : spikes <= UINT32_MAX ? h5::IntType::u32
                                              : h5::IntType::u64;
  options.identifier = "cortex-synth-seed-" + std::to_string(config.seed);
  options.session_description = "synthetic motor-cortex centre-out reaching session (Cortex Engine)";
  write_nwb(file, rec, options);
}

}  // namespace cortex::data
