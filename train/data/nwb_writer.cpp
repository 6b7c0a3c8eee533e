#include "train/data/nwb_writer.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace cortex::data {
namespace {

constexpr const char* kOp = "write_nwb";

void tag(hid_t f, const std::string& path, const std::string& type, const std::string& description = "") {
  h5::write_string_attribute(f, path, "namespace", type == "ElementIdentifiers" || type == "VectorData" ||
                                                           type == "VectorIndex" || type == "DynamicTable"
                                                       ? "hdmf-common"
                                                       : "core");
  h5::write_string_attribute(f, path, "neurodata_type", type);
  if (!description.empty()) h5::write_string_attribute(f, path, "description", description);
}

void check_recording(const Recording& rec, const NwbWriteOptions& options) {
  for (size_t i = 0; i < rec.units.size(); ++i) {
    const auto& t = rec.units[i].spike_times;
    CORTEX_CHECK(std::is_sorted(t.begin(), t.end()), kOp, "unit ", i, ": spike times must be sorted");
    for (double v : t) CORTEX_CHECK(std::isfinite(v), kOp, "unit ", i, ": non-finite spike time");
  }
  for (const auto& b : rec.behavior) {
    CORTEX_CHECK(!b.name.empty() && b.name.front() != '/', kOp, "behaviour series needs a relative name");
    CORTEX_CHECK(b.channels >= 1 && static_cast<int64_t>(b.data.size()) == b.samples() * b.channels, kOp,
                 "behaviour '", b.name, "': data holds ", b.data.size(), " values, expected ", b.samples(), " x ",
                 b.channels);
    if (options.behavior_as_rate && b.samples() >= 2) {
      const double step = (b.timestamps.back() - b.timestamps.front()) / static_cast<double>(b.samples() - 1);
      for (int64_t i = 1; i < b.samples(); ++i) {
        const double expected = b.timestamps.front() + step * static_cast<double>(i);
        CORTEX_CHECK(std::abs(b.timestamps[static_cast<size_t>(i)] - expected) <= 1e-9 * std::max(1.0, std::abs(expected)),
                     kOp, "behaviour '", b.name, "': behavior_as_rate needs regular timestamps");
      }
    }
  }
}

std::vector<int64_t> iota_ids(size_t n) {
  std::vector<int64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int64_t>(i);
  return ids;
}

void write_file_root(hid_t f, const NwbWriteOptions& options) {
  tag(f, "/", "NWBFile");
  h5::write_string_attribute(f, "/", "nwb_version", "2.6.0");
  h5::write_string_attribute(f, "/", "object_id", options.identifier);
  h5::write_string(f, "/identifier", options.identifier);
  h5::write_string(f, "/session_description", options.session_description);
  h5::write_string(f, "/session_start_time", "2024-01-01T00:00:00+00:00");
  h5::write_string(f, "/timestamps_reference_time", "2024-01-01T00:00:00+00:00");
  h5::write_strings(f, "/file_create_date", {"2024-01-01T00:00:00+00:00"});
  for (const char* g : {"/acquisition", "/analysis", "/general", "/stimulus/presentation", "/stimulus/templates"})
    h5::create_group(f, g);
}

void write_units(hid_t f, const Recording& rec, const NwbWriteOptions& options) {
  h5::create_group(f, "/units");
  tag(f, "/units", "Units", "sorted units");
  h5::write_strings_attribute(f, "/units", "colnames", {"spike_times", "heldout"});
  std::vector<int64_t> ids, ends;
  std::vector<double> times;
  std::vector<bool> heldout;
  for (const auto& u : rec.units) {
    ids.push_back(u.id);
    times.insert(times.end(), u.spike_times.begin(), u.spike_times.end());
    ends.push_back(static_cast<int64_t>(times.size()));
    heldout.push_back(u.heldout);
  }
  h5::write_integers(f, "/units/id", ids, h5::IntType::i64);
  tag(f, "/units/id", "ElementIdentifiers");
  h5::write_doubles(f, "/units/spike_times", {static_cast<int64_t>(times.size())}, times.data());
  tag(f, "/units/spike_times", "VectorData", "the spike times for each unit in seconds");
  h5::write_integers(f, "/units/spike_times_index", ends, options.index_type);
  tag(f, "/units/spike_times_index", "VectorIndex", "Index for VectorData 'spike_times'");
  h5::write_reference_attribute(f, "/units/spike_times_index", "target", "/units/spike_times");
  h5::write_bools(f, "/units/heldout", heldout);
  tag(f, "/units/heldout", "VectorData", "held out of the model's input (NLB held-out neurons)");
}

void write_trials(hid_t f, const Recording& rec) {
  const std::string g = "/intervals/trials";
  h5::create_group(f, g);
  tag(f, g, "TimeIntervals", "reach trials");
  h5::write_strings_attribute(f, g, "colnames", {"start_time", "stop_time", "move_onset_time"});
  std::vector<double> start, stop, onset;
  for (const auto& t : rec.trials) {
    start.push_back(t.start_time);
    stop.push_back(t.stop_time);
    onset.push_back(t.move_onset_time);
  }
  const std::vector<int64_t> n{static_cast<int64_t>(rec.trials.size())};
  h5::write_integers(f, g + "/id", iota_ids(rec.trials.size()), h5::IntType::i64);
  tag(f, g + "/id", "ElementIdentifiers");
  h5::write_doubles(f, g + "/start_time", n, start.data());
  tag(f, g + "/start_time", "VectorData", "start time of the trial");
  h5::write_doubles(f, g + "/stop_time", n, stop.data());
  tag(f, g + "/stop_time", "VectorData", "stop time of the trial");
  h5::write_doubles(f, g + "/move_onset_time", n, onset.data());
  tag(f, g + "/move_onset_time", "VectorData", "time of movement onset");
}

void write_behavior(hid_t f, const Recording& rec, const NwbWriteOptions& options) {
  const std::string module = "/processing/behavior";
  h5::create_group(f, module);
  tag(f, module, "ProcessingModule", "behavioural signals");
  for (const auto& b : rec.behavior) {
    const std::string path = module + "/" + b.name;
    h5::create_group(f, path);
    tag(f, path, "TimeSeries", b.name);
    const std::vector<int64_t> shape =
        b.channels == 1 ? std::vector<int64_t>{b.samples()} : std::vector<int64_t>{b.samples(), b.channels};
    h5::write_doubles(f, path + "/data", shape, b.data.data());
    h5::write_string_attribute(f, path + "/data", "unit", b.unit.empty() ? "unknown" : b.unit);
    h5::write_double_attribute(f, path + "/data", "conversion", 1.0);
    h5::write_double_attribute(f, path + "/data", "offset", 0.0);
    h5::write_double_attribute(f, path + "/data", "resolution", -1.0);
    if (options.behavior_as_rate && b.samples() >= 2) {
      const double start = b.timestamps.front();
      const double rate = static_cast<double>(b.samples() - 1) / (b.timestamps.back() - start);
      h5::write_doubles(f, path + "/starting_time", {}, &start);
      h5::write_double_attribute(f, path + "/starting_time", "rate", rate);
      h5::write_string_attribute(f, path + "/starting_time", "unit", "seconds");
    } else {
      h5::write_doubles(f, path + "/timestamps", {b.samples()}, b.timestamps.data());
      h5::write_string_attribute(f, path + "/timestamps", "unit", "seconds");
    }
  }
}

}  // namespace

void write_nwb(const std::string& file, const Recording& rec, const NwbWriteOptions& options) {
  check_recording(rec, options);
  auto guard = h5::lock();
  try {
    h5::Handle f = h5::create_file(file);
    write_file_root(f.get(), options);
    write_units(f.get(), rec, options);
    write_trials(f.get(), rec);
    write_behavior(f.get(), rec, options);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(kOp, 0) == 0) throw;
    throw Error(std::string(kOp) + " " + file + ": " + what);
  }
}

}  // namespace cortex::data
