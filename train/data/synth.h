#pragma once
// The embedded default data set: a synthetic motor-cortex session, so the whole pipeline runs
// on a fresh clone without downloads. Deterministic per seed (own xoshiro streams, one per unit).
//
// Behaviour: centre-out reaches to `targets` directions (80-120 mm, slightly curved, minimum-jerk
// speed profiles, 350-550 ms), each after a 400-900 ms instructed delay and followed by a hold,
// a return movement and a rest; plus a small random tremor. hand_vel is sampled at
// behavior_rate_hz in mm/s.
// Neurons: inhomogeneous Poisson units, rate = gain(t) * (baseline + cosine tuning to the hand
// velocity lag_s later + speed term + preparatory tuning to the target during the delay),
// rectified at zero. Baselines are log-uniform over 2-20 Hz; a shared slow gain fluctuation
// (random-walk latent) and the preparatory activity make decoding realistic rather than easy.
// A fraction of units is flagged held-out.
#include <cstdint>
#include <string>

#include "train/data/recording.h"

namespace cortex::data {

struct SynthConfig {
  int64_t units = 128;
  int64_t trials = 200;
  uint64_t seed = 1;
  double heldout_fraction = 0.25;
  double lag_s = 0.1;               // neurons encode the velocity this much later
  double behavior_rate_hz = 1000;   // sampling rate of hand_vel
  int64_t targets = 8;
};

// Units with ids 0..units-1, trials with start/stop/move_onset, and one behaviour series
// "hand_vel" (2 channels, mm/s).
Recording synthesize(const SynthConfig& config);

// synthesize() written with write_nwb (smallest unsigned index type, like hdmf).
void write_synthetic_nwb(const std::string& file, const SynthConfig& config);

}  // namespace cortex::data
