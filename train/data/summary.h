#pragma once
// What `cortex-data inspect` reports about a data file, for NWB files and tensor exports alike.
#include <cstdint>
#include <string>
#include <vector>

namespace cortex::data {

enum class FileFormat { nwb, tensor_export };

struct FileSummary {
  FileFormat format = FileFormat::nwb;
  int64_t units = 0;     // NWB: rows of /units; export: held-in + held-out columns
  int64_t spikes = 0;    // NWB: length of spike_times; export: sum of *_spikes_heldin/heldout counts
  int64_t trials = 0;    // NWB: rows of /intervals/trials; export: rows of the spike tensors
  std::vector<std::string> behavior;  // NWB: series under /processing/behavior; export: *_behavior datasets
  double t_start = 0;    // NWB: session seconds; export: seconds relative to movement onset
  double t_stop = 0;
};

// NWB when the root has a neurodata_type attribute or /units; a tensor export when a root dataset ends
// in _spikes_heldin; otherwise a cortex::Error saying which of the two was expected.
FileFormat detect_format(const std::string& file);
FileSummary summarize_file(const std::string& file);
// {"format": ..., "units": N, "spikes": N, "trials": N, "behavior": [...], "t_start": s, "t_stop": s}
std::string summary_json(const FileSummary& summary);

}  // namespace cortex::data
