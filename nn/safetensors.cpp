#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/factory.h"

namespace cortex::nn {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; add byte swapping");

namespace {

using Json = nlohmann::ordered_json;
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr int kMaxJsonDepth = 4;  // file object > entry > shape array > number
constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw Error("safetensors: " + path + ": " + problem);
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// A non-negative JSON integer, or a failure naming what it was meant to be.
uint64_t as_count(const Json& v, const std::string& path, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) fail(path, what + " is negative (" + v.dump() + ")");
  fail(path, what + " must be a non-negative integer, got " + v.dump());
}

// Parses the JSON text, rejecting duplicate keys (which the format leaves ambiguous) and
// nesting deeper than any valid header has.
Json parse_json(const std::string& path, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;
  auto check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > kMaxJsonDepth) fail(path, "header JSON is nested deeper than a safetensors header can be");
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.empty()) {
      const std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second) fail(path, "header has the key " + quoted(key) + " twice");
    }
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const Json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
}

SafetensorsEntry parse_entry(const std::string& path, const std::string& name, const Json& v, uint64_t data_size) {
  const std::string where = "tensor " + quoted(name);
  if (name.empty()) fail(path, "a tensor has an empty name");
  if (!v.is_object()) fail(path, where + " must be a JSON object, got " + v.dump());
  for (const auto& [key, value] : v.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets") fail(path, where + " has an unknown field " + quoted(key));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!v.contains(key)) fail(path, where + " lacks the field '" + key + "'");

  SafetensorsEntry e;
  e.name = name;
  if (!v["dtype"].is_string()) fail(path, where + " has a non-string dtype " + v["dtype"].dump());
  e.dtype = safetensors_dtype_from_name(v["dtype"].get<std::string>(), "safetensors: " + path + ": " + where);

  const Json& shape = v["shape"];
  if (!shape.is_array()) fail(path, where + " has a shape that is not an array: " + shape.dump());
  uint64_t numel = 1;
  for (const Json& d : shape) {
    const uint64_t n = as_count(d, path, where + " shape entry");
    if (n > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, n, &numel) ||
        numel > static_cast<uint64_t>(INT64_MAX))
      fail(path, where + " has an absurd shape " + shape.dump());
    e.shape.push_back(static_cast<int64_t>(n));
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(e.dtype)), &nbytes))
    fail(path, where + " has an absurd shape " + shape.dump());

  const Json& offsets = v["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail(path, where + " data_offsets must be [begin, end], got " + offsets.dump());
  e.begin = as_count(offsets[0], path, where + " data_offsets begin");
  e.end = as_count(offsets[1], path, where + " data_offsets end");
  if (e.begin > e.end) fail(path, where + " data_offsets " + offsets.dump() + " end before they begin");
  if (e.end > data_size)
    fail(path, where + " data_offsets " + offsets.dump() + " reach past the data section of " +
                   std::to_string(data_size) + " bytes");
  if (e.end - e.begin != nbytes)
    fail(path, where + " is " + v["dtype"].get<std::string>() + shape_str(e.shape) + " = " + std::to_string(nbytes) +
                   " bytes but data_offsets " + offsets.dump() + " span " + std::to_string(e.end - e.begin));
  return e;
}

SafetensorsHeader parse_header(const std::string& path, const std::string& text, uint64_t data_size) {
  const Json j = parse_json(path, text);
  if (!j.is_object()) fail(path, "header must be a JSON object, got " + std::string(j.type_name()));
  SafetensorsHeader h;
  for (const auto& [key, value] : j.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) fail(path, "__metadata__ must be an object of strings, got " + value.dump());
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(path, "__metadata__ value for " + quoted(mk) + " is not a string: " + mv.dump());
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(path, key, value, data_size));
  }
  // The data section must be covered exactly: no overlaps, no gaps, nothing left over.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : h.entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto* e : by_offset) {
    if (e->begin < covered)
      fail(path, "tensors " + quoted(previous->name) + " and " + quoted(e->name) + " overlap (bytes " +
                     std::to_string(e->begin) + ".." + std::to_string(covered) + ")");
    if (e->begin > covered)
      fail(path, "bytes " + std::to_string(covered) + ".." + std::to_string(e->begin) +
                     " of the data section belong to no tensor (before " + quoted(e->name) + ")");
    covered = e->end;
    if (e->end > e->begin) previous = e;
  }
  if (covered != data_size)
    fail(path, "the last " + std::to_string(data_size - covered) + " bytes of the data section belong to no tensor");
  return h;
}

// An open file and its size; reads are checked against what the file holds.
class InputFile {
 public:
  explicit InputFile(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) fail(path, "not a regular file (or it does not exist)");
    in_.open(path, std::ios::binary);
    if (!in_) fail(path, std::string("cannot open: ") + std::strerror(errno));
    size_ = std::filesystem::file_size(path, ec);
    if (ec) fail(path, "cannot read the file size: " + ec.message());
  }
  uint64_t size() const { return size_; }
  void read(uint64_t offset, void* dst, uint64_t n) {
    if (offset > size_ || n > size_ - offset) fail(path_, "read past the end of the file");
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in_ || static_cast<uint64_t>(in_.gcount()) != n)
      fail(path_, "short read at byte " + std::to_string(offset) + " (was the file changed while reading?)");
  }

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t size_ = 0;
};

SafetensorsHeader read_header(InputFile& file, const std::string& path) {
  if (file.size() < 8)
    fail(path, "file is " + std::to_string(file.size()) + " bytes, too short for the 8-byte header length");
  unsigned char len_bytes[8];
  file.read(0, len_bytes, 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(header_len) + " is absurd (limit " + std::to_string(kMaxHeaderBytes) +
                   " bytes)");
  if (header_len > file.size() - 8)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the " + std::to_string(file.size() - 8) +
                   " bytes after the length field (truncated file?)");
  std::string text(header_len, '\0');
  file.read(8, text.data(), header_len);
  SafetensorsHeader h = parse_header(path, text, file.size() - 8 - header_len);
  h.data_start = 8 + header_len;
  return h;
}

void write_all(std::FILE* f, const void* data, size_t n, const std::string& path) {
  if (n != 0 && std::fwrite(data, 1, n, f) != n) fail(path, std::string("write failed: ") + std::strerror(errno));
}

// Makes the rename itself durable; failure here cannot lose data, so it is not an error.
void sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
    case DType::boolean: return "BOOL";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
  }
  CORTEX_FAIL("safetensors", "unknown dtype");
}

DType safetensors_dtype_from_name(const std::string& name, const std::string& context) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F32", DType::f32}, {"F64", DType::f64}, {"BF16", DType::bf16}, {"F16", DType::f16}, {"I8", DType::i8},
      {"U8", DType::u8},   {"BOOL", DType::boolean}, {"I32", DType::i32}, {"I64", DType::i64}};
  for (const auto& [n, d] : kNames)
    if (name == n) return d;
  throw Error(context + ": unknown or unsupported dtype '" + name +
              "' (supported: F32, F64, BF16, F16, I8, U8, BOOL, I32, I64)");
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata) {
  // Data is laid out widest element first, so every tensor starts aligned to its element size.
  std::vector<size_t> layout(tensors.size());
  std::vector<const StateDict::Entry*> entries;
  for (const auto& e : tensors) entries.push_back(&e);
  for (size_t i = 0; i < layout.size(); ++i) layout[i] = i;
  std::stable_sort(layout.begin(), layout.end(),
                   [&](size_t a, size_t b) { return entries[a]->second.itemsize() > entries[b]->second.itemsize(); });
  std::vector<uint64_t> begin(entries.size());
  uint64_t offset = 0;
  for (size_t i : layout) {
    begin[i] = offset;
    offset += entries[i]->second.nbytes();
  }

  std::string text;
  try {
    Json header = Json::object();
    if (!metadata.empty()) {
      Json meta = Json::object();
      for (const auto& [k, v] : metadata) meta[k] = v;
      header[kMetadataKey] = std::move(meta);
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& [name, t] = *entries[i];
      if (name == kMetadataKey) fail(path, "a tensor cannot be named __metadata__");
      Json shape = Json::array();
      for (int64_t d : t.shape()) shape.push_back(static_cast<uint64_t>(d));
      header[name] = Json{{"dtype", safetensors_dtype_name(t.dtype())},
                          {"shape", std::move(shape)},
                          {"data_offsets", Json::array({begin[i], begin[i] + t.nbytes()})}};
    }
    text = header.dump();
  } catch (const Json::exception& e) {
    fail(path, std::string("cannot encode the header (names and metadata must be UTF-8): ") + e.what());
  }
  text.append((8 - (text.size() % 8)) % 8, ' ');

  static std::atomic<uint64_t> counter{0};
  const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (!f) fail(path, "cannot create " + temp + ": " + std::strerror(errno));
  try {
    unsigned char len_bytes[8];
    uint64_t len = text.size();
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
    write_all(f, len_bytes, 8, path);
    write_all(f, text.data(), text.size(), path);
    for (size_t i : layout) {
      const Tensor host = data_contiguous(data_to_device(entries[i]->second, Device::cpu()));
      write_all(f, host.data_ptr(), host.nbytes(), path);
    }
    if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) fail(path, std::string("flush failed: ") + std::strerror(errno));
    const int closed = std::fclose(f);
    f = nullptr;
    if (closed != 0) fail(path, std::string("close failed: ") + std::strerror(errno));
    if (std::rename(temp.c_str(), path.c_str()) != 0)
      fail(path, "cannot rename " + temp + " into place: " + std::strerror(errno));
  } catch (...) {
    if (f) std::fclose(f);
    std::remove(temp.c_str());
    throw;
  }
  sync_directory(std::filesystem::path(path).parent_path());
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  InputFile file(path);
  return read_header(file, path);
}

SafetensorsFile load_safetensors(const std::string& path, Device device) {
  InputFile file(path);
  SafetensorsHeader h = read_header(file, path);
  SafetensorsFile out;
  out.metadata = std::move(h.metadata);
  for (const auto& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype, Device::cpu());
    file.read(h.data_start + e.begin, t.data_ptr(), e.end - e.begin);
    if (e.dtype == DType::boolean) {
      // Any byte but 0 or 1 is not a valid C++ bool.
      const auto* bytes = static_cast<const unsigned char*>(t.data_ptr());
      for (uint64_t i = 0; i < e.end - e.begin; ++i)
        if (bytes[i] > 1)
          fail(path, "BOOL tensor " + quoted(e.name) + " holds byte " + std::to_string(bytes[i]) + " at element " +
                         std::to_string(i));
    }
    out.tensors.insert(e.name, data_to_device(t, device));
  }
  return out;
}

}  // namespace cortex::nn
