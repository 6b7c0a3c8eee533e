#pragma once
// Reading and writing .safetensors files (https://huggingface.co/docs/safetensors):
//   u64 little-endian N | N bytes of JSON header, space padded | raw little-endian data
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) plus an optional "__metadata__" string map.
// Reading validates everything before touching the data, so a damaged or hostile file
// yields a cortex::Error naming the file and the problem, never an out-of-bounds read.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/device.h"
#include "nn/state_dict.h"

namespace cortex::nn {

using Metadata = std::map<std::string, std::string>;

struct SafetensorsEntry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;  // byte offsets into the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in header order
  Metadata metadata;
  uint64_t data_start;  // file offset of the data section (8 + header length)
};

struct SafetensorsFile {
  StateDict tensors;  // in header order
  Metadata metadata;
};

// Writes tensors (any device, any strides) and metadata. The file appears atomically:
// data goes to a temporary file in the same directory that is synced and renamed.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {});

// Reads and validates the header only (e.g. to get the model config from the metadata).
SafetensorsHeader read_safetensors_header(const std::string& path);
// Reads every tensor onto `device`.
SafetensorsFile load_safetensors(const std::string& path, Device device = Device::cpu());

// The dtype names of the format ("F32", "BF16", ...).
const char* safetensors_dtype_name(DType dtype);
DType safetensors_dtype_from_name(const std::string& name, const std::string& context);

}  // namespace cortex::nn
