#pragma once
// Wire formats of a decode request (JSON and a compact little-endian binary layout) and of
// the replies. docs/serving.md documents both for client authors.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/window.h"

namespace cortex::serve {

// A parsed request body: the events plus the optional per-request deadline budget.
struct DecodeRequest {
  Window window;
  std::optional<double> deadline_ms;  // time budget from arrival; the server default when absent
  std::string id;                     // echoed back when the client sets one
};

// Binary layout (all little-endian), 40-byte header then arrays:
//   u32 magic 'CXD1' | u16 version (1) | u16 flags | u32 n | f32 deadline_ms (<= 0: default)
//   f64 end_ms (0: the default end) | f64 time_base_ms | f32 bin_ms (<= 0: default) | u32 reserved (0)
//   i32 units[n] | times: f32 offsets[n] in ms from time_base_ms, or with flag kBinnedTimes
//   i32 bins[n] (time = time_base_ms + bin * bin_ms) | i32 counts[n] with flag kHasCounts (else 1)
namespace binary {
constexpr uint32_t kMagic = 0x31445843;  // bytes "CXD1"
constexpr uint16_t kVersion = 1;
constexpr uint16_t kBinnedTimes = 1;
constexpr uint16_t kHasCounts = 2;
constexpr size_t kHeaderBytes = 40;
}  // namespace binary

// How a body's times are read: decode requests default to times relative to the window start
// (end_ms = window_ms); stream messages carry absolute times and must give end_ms.
struct ParseOptions {
  double default_end_ms = 600.0;
  bool require_end = false;
  double default_bin_ms = 50.0;
};

// JSON: {"units": [int], "times_ms": [number] | "bins": [int], "counts": [int] (optional, default 1),
//        "end_ms": number (optional), "bin_ms": number (optional), "deadline_ms": number (optional),
//        "id": string (optional)}
RequestError parse_json_request(std::string_view body, const ParseOptions& options, DecodeRequest& out);
RequestError parse_binary_request(std::string_view body, const ParseOptions& options, DecodeRequest& out);

// Encoders for clients (the load generator and the tests).
std::string encode_json_request(const Window& w, std::optional<double> deadline_ms = std::nullopt,
                                bool include_end = true);
// Times are written as offsets from the window start.
std::string encode_binary_request(const Window& w, double window_ms, std::optional<double> deadline_ms = std::nullopt);

struct Timings {
  double queue_ms = 0.0;
  double compute_ms = 0.0;
  double total_ms = 0.0;
};

// The reply to a decoded window or stream stride.
std::string encode_result(const std::vector<float>& velocity, const std::string& model_name,
                          const std::string& model_version, const Timings& timings, int batch_size,
                          const std::string& id, const nlohmann::json& extra = nlohmann::json::object());
// {"error": reason, "message": text, "status": code}
std::string encode_error(const RequestError& error);

}  // namespace cortex::serve
