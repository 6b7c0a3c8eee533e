#include "serve/request_codec.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace cortex::serve {

static_assert(std::endian::native == std::endian::little, "the binary codec assumes a little-endian host");

namespace {

using nlohmann::json;

RequestError wrong_type(const std::string& message) { return {Rejection::wrong_type, message}; }

// Reads an optional numeric field; false (with err set) when present but not a number.
bool read_number(const json& doc, const char* key, std::optional<double>& out, RequestError& err) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return true;
  if (!it->is_number()) {
    err = wrong_type(std::string("field \"") + key + "\" must be a number, got " + it->type_name());
    return false;
  }
  out = it->get<double>();
  if (!std::isfinite(*out)) {
    err = wrong_type(std::string("field \"") + key + "\" must be finite");
    return false;
  }
  return true;
}

template <typename T>
bool read_array(const json& doc, const char* key, bool integers, std::vector<T>& out, RequestError& err) {
  auto it = doc.find(key);
  if (it == doc.end()) {
    err = wrong_type(std::string("missing field \"") + key + "\"");
    return false;
  }
  if (!it->is_array()) {
    err = wrong_type(std::string("field \"") + key + "\" must be an array, got " + it->type_name());
    return false;
  }
  out.clear();
  out.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    const bool ok = integers ? v.is_number_integer() : v.is_number();
    if (!ok) {
      err = wrong_type(std::string("field \"") + key + "\"[" + std::to_string(i) + "] must be " +
                       (integers ? "an integer" : "a number") + ", got " + v.type_name());
      return false;
    }
    if (integers) {
      const int64_t x = v.get<int64_t>();
      if (x < INT32_MIN || x > INT32_MAX) {
        err = {std::string(key) == "units" ? Rejection::unit_out_of_range : Rejection::wrong_type, std::string("field \"") + key + "\"[" + std::to_string(i) +
                                                 "] = " + std::to_string(x) + " does not fit in 32 bits"};
        return false;
      }
      out.push_back(static_cast<T>(x));
    } else {
      out.push_back(static_cast<T>(v.get<double>()));
    }
  }
  return true;
}

void bins_to_times(const std::vector<int32_t>& bins, double bin_ms, double start_ms, std::vector<double>& times) {
  times.resize(bins.size());
  for (size_t i = 0; i < bins.size(); ++i) times[i] = start_ms + bins[i] * bin_ms;
}

}  // namespace

RequestError parse_json_request(std::string_view body, const ParseOptions& options, DecodeRequest& out) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return {Rejection::malformed, "the body is not valid JSON"};
  if (!doc.is_object()) return wrong_type(std::string("the body must be a JSON object, got ") + doc.type_name());
  RequestError err;
  Window& w = out.window;
  std::optional<double> end, bin_ms;
  if (!read_number(doc, "end_ms", end, err) || !read_number(doc, "bin_ms", bin_ms, err) ||
      !read_number(doc, "deadline_ms", out.deadline_ms, err))
    return err;
  if (options.require_end && !end) return wrong_type("missing field \"end_ms\" (the stride's end on the stream clock)");
  if (bin_ms && *bin_ms <= 0) return wrong_type("field \"bin_ms\" must be positive");
  w.end_ms = end.value_or(options.default_end_ms);
  if (!read_array(doc, "units", true, w.units, err)) return err;
  const bool binned = doc.contains("bins");
  if (binned) {
    std::vector<int32_t> bins;
    if (!read_array(doc, "bins", true, bins, err)) return err;
    // Bins count from the window start (decode) or from the stream clock's zero (streams).
    const double start = options.require_end ? 0.0 : w.end_ms - options.default_end_ms;
    bins_to_times(bins, bin_ms.value_or(options.default_bin_ms), start, w.times_ms);
  } else if (!read_array(doc, "times_ms", false, w.times_ms, err)) {
    return err;
  }
  if (doc.contains("counts")) {
    if (!read_array(doc, "counts", true, w.counts, err)) return err;
  } else {
    w.counts.assign(w.units.size(), 1);
  }
  if (auto it = doc.find("id"); it != doc.end()) {
    if (!it->is_string()) return wrong_type(std::string("field \"id\" must be a string, got ") + it->type_name());
    out.id = it->get<std::string>();
  }
  if (w.times_ms.size() != w.units.size() || w.counts.size() != w.units.size())
    return wrong_type("units (" + std::to_string(w.units.size()) + "), times (" + std::to_string(w.times_ms.size()) +
                      ") and counts (" + std::to_string(w.counts.size()) + ") must have the same length");
  return {};
}

RequestError parse_binary_request(std::string_view body, const ParseOptions& options, DecodeRequest& out) {
  using namespace binary;
  if (body.size() < kHeaderBytes)
    return {Rejection::malformed, "binary body of " + std::to_string(body.size()) + " bytes is shorter than the " +
                                      std::to_string(kHeaderBytes) + "-byte header"};
  const char* p = body.data();
  uint32_t magic, n, reserved;
  uint16_t version, flags;
  float deadline, bin_ms;
  double end, base;
  std::memcpy(&magic, p, 4);
  std::memcpy(&version, p + 4, 2);
  std::memcpy(&flags, p + 6, 2);
  std::memcpy(&n, p + 8, 4);
  std::memcpy(&deadline, p + 12, 4);
  std::memcpy(&end, p + 16, 8);
  std::memcpy(&base, p + 24, 8);
  std::memcpy(&bin_ms, p + 32, 4);
  std::memcpy(&reserved, p + 36, 4);
  if (magic != kMagic) return {Rejection::malformed, "binary body does not start with the magic 'CXD1'"};
  if (version != kVersion)
    return {Rejection::malformed, "binary version " + std::to_string(version) + " is not supported (expected 1)"};
  if ((flags & ~(kBinnedTimes | kHasCounts)) || reserved != 0)
    return {Rejection::malformed, "unknown binary flags or a non-zero reserved field"};
  const size_t arrays = (flags & kHasCounts) ? 3 : 2;
  const size_t expected = kHeaderBytes + arrays * 4 * static_cast<size_t>(n);
  if (body.size() != expected)
    return {Rejection::malformed, "binary body has " + std::to_string(body.size()) + " bytes; " + std::to_string(n) +
                                      " events need " + std::to_string(expected)};
  if (!std::isfinite(end) || !std::isfinite(base) || !std::isfinite(deadline) || !std::isfinite(bin_ms))
    return wrong_type("binary header fields must be finite");
  Window& w = out.window;
  const bool has_end = end != 0.0;
  if (options.require_end && !has_end) return wrong_type("binary stream message needs end_ms");
  w.end_ms = has_end ? end : options.default_end_ms;
  if (deadline > 0) out.deadline_ms = deadline;
  const char* arrays_at = p + kHeaderBytes;
  w.units.resize(n);
  std::memcpy(w.units.data(), arrays_at, 4 * static_cast<size_t>(n));
  if (flags & kBinnedTimes) {
    std::vector<int32_t> bins(n);
    std::memcpy(bins.data(), arrays_at + 4 * static_cast<size_t>(n), 4 * static_cast<size_t>(n));
    bins_to_times(bins, bin_ms > 0 ? bin_ms : options.default_bin_ms, base, w.times_ms);
  } else {
    std::vector<float> offsets(n);
    std::memcpy(offsets.data(), arrays_at + 4 * static_cast<size_t>(n), 4 * static_cast<size_t>(n));
    w.times_ms.resize(n);
    for (uint32_t i = 0; i < n; ++i) w.times_ms[i] = base + offsets[i];
  }
  if (flags & kHasCounts) {
    w.counts.resize(n);
    std::memcpy(w.counts.data(), arrays_at + 8 * static_cast<size_t>(n), 4 * static_cast<size_t>(n));
  } else {
    w.counts.assign(n, 1);
  }
  return {};
}

std::string encode_json_request(const Window& w, std::optional<double> deadline_ms, bool include_end) {
  json doc = {{"units", w.units}, {"times_ms", w.times_ms}, {"counts", w.counts}};
  if (include_end) doc["end_ms"] = w.end_ms;
  if (deadline_ms) doc["deadline_ms"] = *deadline_ms;
  return doc.dump();
}

std::string encode_binary_request(const Window& w, double window_ms, std::optional<double> deadline_ms) {
  using namespace binary;
  const uint32_t n = static_cast<uint32_t>(w.units.size());
  std::string out(kHeaderBytes + 12 * static_cast<size_t>(n), '\0');
  char* p = out.data();
  const uint16_t version = kVersion, flags = kHasCounts;
  const float deadline = deadline_ms ? static_cast<float>(*deadline_ms) : 0.0f, bin_ms = 0.0f;
  const double end = w.end_ms, base = w.end_ms - window_ms;
  std::memcpy(p, &kMagic, 4);
  std::memcpy(p + 4, &version, 2);
  std::memcpy(p + 6, &flags, 2);
  std::memcpy(p + 8, &n, 4);
  std::memcpy(p + 12, &deadline, 4);
  std::memcpy(p + 16, &end, 8);
  std::memcpy(p + 24, &base, 8);
  std::memcpy(p + 32, &bin_ms, 4);
  char* arrays_at = p + kHeaderBytes;
  std::memcpy(arrays_at, w.units.data(), 4 * static_cast<size_t>(n));
  for (uint32_t i = 0; i < n; ++i) {
    const float offset = static_cast<float>(w.times_ms[i] - base);
    std::memcpy(arrays_at + 4 * (static_cast<size_t>(n) + i), &offset, 4);
  }
  std::memcpy(arrays_at + 8 * static_cast<size_t>(n), w.counts.data(), 4 * static_cast<size_t>(n));
  return out;
}

std::string encode_result(const std::vector<float>& velocity, const std::string& model_name,
                          const std::string& model_version, const Timings& timings, int batch_size,
                          const std::string& id, const nlohmann::json& extra) {
  json doc = {{"velocity", velocity},
              {"model", {{"name", model_name}, {"version", model_version}}},
              {"timings_ms", {{"queue", timings.queue_ms}, {"compute", timings.compute_ms}, {"total", timings.total_ms}}},
              {"batch_size", batch_size}};
  if (!id.empty()) doc["id"] = id;
  for (auto it = extra.begin(); it != extra.end(); ++it) doc[it.key()] = it.value();
  return doc.dump();
}

std::string encode_error(const RequestError& error) {
  return json{{"error", rejection_name(error.reason)},
              {"message", error.message},
              {"status", rejection_status(error.reason)}}
      .dump();
}

}  // namespace cortex::serve
