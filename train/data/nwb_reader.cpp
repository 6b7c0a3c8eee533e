#include "train/data/nwb_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"
#include "train/data/h5.h"

namespace cortex::data {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::vector<double> read_vector(hid_t file, const std::string& path, const std::string& expected) {
  if (!h5::is_dataset(file, path)) fail(path, "missing; expected " + expected);
  h5::DatasetInfo info;
  std::vector<double> values = h5::read_doubles(file, path, &info);
  if (info.shape.size() != 1) fail(path, "expected " + expected + " (1-D), found " + info.describe());
  return values;
}

std::vector<int64_t> read_index_vector(hid_t file, const std::string& path, const std::string& expected) {
  if (!h5::is_dataset(file, path)) fail(path, "missing; expected " + expected);
  h5::DatasetInfo info;
  std::vector<int64_t> values = h5::read_integers(file, path, &info);
  if (info.shape.size() != 1) fail(path, "expected " + expected + " (1-D), found " + info.describe());
  return values;
}

void read_units(hid_t file, Recording& rec) {
  if (!h5::is_group(file, "/units")) fail("/units", "missing; expected the NWB Units table (a group)");
  const auto ids = read_index_vector(file, "/units/id", "one integer id per unit");
  const auto times = read_vector(file, "/units/spike_times", "the concatenated spike times of all units");
  const auto ends = read_index_vector(file, "/units/spike_times_index",
                                      "the VectorIndex of /units/spike_times (one end offset per unit)");
  const int64_t n_spikes = static_cast<int64_t>(times.size());
  if (ends.size() != ids.size())
    fail("/units/spike_times_index", detail::concat("expected ", ids.size(), " entries (one per /units/id), found ",
                                                    ends.size()));
  for (size_t i = 0; i < ends.size(); ++i) {
    if (ends[i] < 0) fail("/units/spike_times_index", detail::concat("entry ", i, " is negative (", ends[i], ")"));
    if (ends[i] > n_spikes)
      fail("/units/spike_times_index", detail::concat("entry ", i, " (", ends[i],
                                                      ") points past the end of /units/spike_times (length ",
                                                      n_spikes, ")"));
    if (i > 0 && ends[i] < ends[i - 1])
      fail("/units/spike_times_index", detail::concat("entry ", i, " (", ends[i], ") is below entry ", i - 1, " (",
                                                      ends[i - 1], "); expected non-decreasing end offsets"));
  }
  if (!ends.empty() && ends.back() != n_spikes)
    fail("/units/spike_times_index", detail::concat("last entry (", ends.back(),
                                                    ") must equal the length of /units/spike_times (", n_spikes, ")"));
  if (ends.empty() && n_spikes != 0)
    fail("/units/spike_times_index", detail::concat("is empty but /units/spike_times holds ", n_spikes, " spikes"));
  for (int64_t i = 0; i < n_spikes; ++i) {
    if (!std::isfinite(times[static_cast<size_t>(i)]))
      fail("/units/spike_times", detail::concat("non-finite spike time at ", i));
  }

  std::vector<int64_t> heldout(ids.size(), 0);
  if (h5::exists(file, "/units/heldout")) {
    h5::DatasetInfo info = h5::dataset_info(file, "/units/heldout");
    if (info.type_class != H5T_INTEGER && info.type_class != H5T_ENUM)
      fail("/units/heldout", "expected a bool or integer column, found " + info.describe());
    heldout = read_index_vector(file, "/units/heldout", "one held-out flag per unit");
    if (heldout.size() != ids.size())
      fail("/units/heldout", detail::concat("expected ", ids.size(), " entries (one per unit), found ",
                                            heldout.size()));
  }

  rec.units.resize(ids.size());
  int64_t begin = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    Unit& u = rec.units[i];
    u.id = ids[i];
    u.heldout = heldout[i] != 0;
    u.spike_times.assign(times.begin() + begin, times.begin() + ends[i]);
    if (!std::is_sorted(u.spike_times.begin(), u.spike_times.end()))
      std::sort(u.spike_times.begin(), u.spike_times.end());
    begin = ends[i];
  }
}

void read_trials(hid_t file, Recording& rec, bool required) {
  const std::string group = "/intervals/trials";
  if (!h5::is_group(file, group)) {
    if (required) fail(group, "missing; expected the trials table (start_time, stop_time, move_onset_time)");
    return;
  }
  const auto start = read_vector(file, group + "/start_time", "one start time per trial");
  const auto stop = read_vector(file, group + "/stop_time", "one stop time per trial");
  if (stop.size() != start.size())
    fail(group + "/stop_time", detail::concat("expected ", start.size(), " entries (as start_time), found ",
                                              stop.size()));
  std::vector<double> onset(start.size(), std::numeric_limits<double>::quiet_NaN());
  if (h5::exists(file, group + "/move_onset_time")) {
    onset = read_vector(file, group + "/move_onset_time", "one movement-onset time per trial");
    if (onset.size() != start.size())
      fail(group + "/move_onset_time", detail::concat("expected ", start.size(), " entries (as start_time), found ",
                                                      onset.size()));
  }
  rec.trials.resize(start.size());
  for (size_t i = 0; i < start.size(); ++i) rec.trials[i] = {start[i], stop[i], onset[i]};
}

// One TimeSeries group: `data` plus `timestamps`, or `starting_time` with attribute `rate`.
BehaviorSeries read_series(hid_t file, const std::string& path, const std::string& name) {
  BehaviorSeries s;
  s.name = name;
  h5::DatasetInfo info;
  const std::string data_path = path + "/data";
  s.data = h5::read_doubles(file, data_path, &info);
  if (info.shape.empty() || info.shape.size() > 2)
    fail(data_path, "expected a [T] or [T, channels] dataset, found " + info.describe());
  const int64_t samples = info.shape[0];
  s.channels = info.shape.size() == 2 ? info.shape[1] : 1;
  const double conversion = h5::read_double_attribute(file, data_path, "conversion").value_or(1.0);
  const double offset = h5::read_double_attribute(file, data_path, "offset").value_or(0.0);
  if (conversion != 1.0 || offset != 0.0) {
    for (double& v : s.data) v = v * conversion + offset;
  }

  if (h5::exists(file, path + "/timestamps")) {
    s.timestamps = read_vector(file, path + "/timestamps", "one timestamp per row of data");
    if (static_cast<int64_t>(s.timestamps.size()) != samples)
      fail(path + "/timestamps", detail::concat("expected ", samples, " entries (rows of data), found ",
                                                s.timestamps.size()));
    for (size_t i = 0; i < s.timestamps.size(); ++i) {
      if (!std::isfinite(s.timestamps[i]) || (i > 0 && s.timestamps[i] < s.timestamps[i - 1]))
        fail(path + "/timestamps", detail::concat("entry ", i, " is not finite and ascending"));
    }
  } else if (h5::exists(file, path + "/starting_time")) {
    const std::string st = path + "/starting_time";
    h5::DatasetInfo st_info;
    const auto start = h5::read_doubles(file, st, &st_info);
    if (start.size() != 1) fail(st, "expected a scalar, found " + st_info.describe());
    const auto rate = h5::read_double_attribute(file, st, "rate");
    if (!rate) fail(st, "missing attribute `rate`; expected the sampling rate in Hz");
    if (!(*rate > 0) || !std::isfinite(*rate)) fail(st, detail::concat("attribute `rate` must be positive, got ", *rate));
    s.timestamps.resize(static_cast<size_t>(samples));
    for (int64_t i = 0; i < samples; ++i) s.timestamps[static_cast<size_t>(i)] = start[0] + static_cast<double>(i) / *rate;
  } else {
    fail(path, "expected `timestamps` or `starting_time` (with attribute `rate`) next to `data`");
  }
  return s;
}

void read_behavior(hid_t file, Recording& rec) {
  const std::string module = "/processing/behavior";
  if (!h5::exists(file, module)) return;
  if (!h5::is_group(file, module)) fail(module, "expected a ProcessingModule group");
  for (const auto& child : h5::children(file, module)) {
    const std::string path = module + "/" + child;
    if (!h5::is_group(file, path)) continue;
    if (h5::exists(file, path + "/data")) {
      rec.behavior.push_back(read_series(file, path, child));
      continue;
    }
    // A container (e.g. Position) holding TimeSeries one level down.
    for (const auto& inner : h5::children(file, path)) {
      const std::string inner_path = path + "/" + inner;
      if (h5::is_group(file, inner_path) && h5::exists(file, inner_path + "/data"))
        rec.behavior.push_back(read_series(file, inner_path, child + "/" + inner));
    }
  }
}

}  // namespace

Recording read_nwb(const std::string& file, const NwbReadOptions& options) {
  auto guard = h5::lock();
  try {
    h5::Handle f = h5::open_file(file, false);
    Recording rec;
    read_units(f.get(), rec);
    read_trials(f.get(), rec, options.require_trials);
    read_behavior(f.get(), rec);
    return rec;
  } catch (const Error& e) {
    throw Error("read_nwb " + file + ": " + e.what());
  }
}

}  // namespace cortex::data
