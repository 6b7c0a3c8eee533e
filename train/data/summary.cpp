#include "train/data/summary.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "train/data/h5.h"
#include "train/data/nwb_reader.h"
#include "train/data/tensor_export.h"

namespace cortex::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

FileSummary summarize_export(const std::string& file) {
  FileSummary s;
  s.format = FileFormat::tensor_export;
  const auto arrays = read_tensor_export(file);
  int64_t bins = 0;
  for (const auto& [name, a] : arrays) {
    if (!ends_with(name, "_spikes_heldin")) continue;
    const std::string prefix = name.substr(0, name.size() - std::string("_spikes_heldin").size());
    const SampleSet set = export_to_samples(arrays, prefix);
    const int64_t units = set.heldin_units() + set.heldout_units();
    CORTEX_CHECK(s.units == 0 || s.units == units, "inspect", file, ": /", name, " has ", units,
                 " units where another split has ", s.units);
    s.units = units;
    s.trials += set.samples();
    bins = std::max(bins, set.bins);
    double total = 0;
    for (float v : set.heldin) total += v;
    for (float v : set.heldout) total += v;
    s.spikes += static_cast<int64_t>(std::llround(total));
  }
  for (const auto& [name, a] : arrays) {
    if (ends_with(name, "_behavior")) s.behavior.push_back(name);
  }
  s.t_start = kExportAlignStartS;
  s.t_stop = kExportAlignStartS + static_cast<double>(bins) * kExportBinS;
  return s;
}

FileSummary summarize_nwb(const std::string& file) {
  NwbReadOptions options;
  options.require_trials = false;
  const Recording rec = read_nwb(file, options);
  FileSummary s;
  s.format = FileFormat::nwb;
  s.units = static_cast<int64_t>(rec.units.size());
  s.spikes = rec.spike_count();
  s.trials = static_cast<int64_t>(rec.trials.size());
  s.behavior = rec.behavior_names();
  s.t_start = rec.t_start();
  s.t_stop = rec.t_stop();
  return s;
}

}  // namespace

FileFormat detect_format(const std::string& file) {
  auto guard = h5::lock();
  h5::Handle f = h5::open_file(file, false);
  // Only the tag's presence is checked: its variable-length string is not read (see recording.h).
  if (h5::has_attribute(f.get(), "/", "neurodata_type") || h5::is_group(f.get(), "/units")) return FileFormat::nwb;
  for (const auto& name : h5::children(f.get(), "/")) {
    if (ends_with(name, "_spikes_heldin") && h5::is_dataset(f.get(), "/" + name)) return FileFormat::tensor_export;
  }
  throw Error("inspect " + file +
              ": neither an NWB file (no neurodata_type root attribute, no /units) nor an NLB tensor export (no /*_spikes_heldin "
              "dataset)");
}

FileSummary summarize_file(const std::string& file) {
  return detect_format(file) == FileFormat::nwb ? summarize_nwb(file) : summarize_export(file);
}

std::string summary_json(const FileSummary& s) {
  nlohmann::ordered_json j;
  j["format"] = s.format == FileFormat::nwb ? "nwb" : "nlb_tensor_export";
  j["units"] = s.units;
  j["spikes"] = s.spikes;
  j["trials"] = s.trials;
  j["behavior"] = s.behavior;
  // Nanosecond rounding keeps -0.25 + 140 * 0.005 from printing as 0.45000000000000007.
  j["t_start"] = std::round(s.t_start * 1e9) / 1e9;
  j["t_stop"] = std::round(s.t_stop * 1e9) / 1e9;
  if (s.format == FileFormat::tensor_export) j["time_reference"] = "move_onset";
  return j.dump();
}

}  // namespace cortex::data
