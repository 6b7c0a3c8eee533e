// Request validation and the JSON / binary codecs.
#include <cstring>

#include "serve/request_codec.h"
#include "tests/test_util.h"

using namespace cortex::serve;

namespace {
Window sample_window() {
  Window w;
  w.units = {3, 0, 7, 7};
  w.times_ms = {1.5, 100.0, 100.0, 599.25};
  w.counts = {1, 2, 1, 3};
  w.end_ms = 600.0;
  return w;
}
WindowLimits limits() {
  WindowLimits l;
  l.num_units = 8;
  l.length_ms = 600.0;
  l.max_events = 100;
  return l;
}
}  // namespace

TEST_CASE("validate_window accepts a good window and names each kind of bad one") {
  Window w = sample_window();
  CHECK_FALSE(validate_window(w, limits()));

  Window bad = w;
  bad.units[2] = 8;
  RequestError e = validate_window(bad, limits());
  CHECK(e.reason == Rejection::unit_out_of_range);
  CHECK(e.message.find("unit id 8") != std::string::npos);
  bad.units[2] = -1;
  CHECK(validate_window(bad, limits()).reason == Rejection::unit_out_of_range);

  bad = w;
  std::swap(bad.times_ms[0], bad.times_ms[1]);
  CHECK(validate_window(bad, limits()).reason == Rejection::out_of_order);

  bad = w;
  bad.times_ms[3] = 600.0;  // the end is exclusive
  CHECK(validate_window(bad, limits()).reason == Rejection::time_out_of_window);
  bad = w;
  bad.times_ms[0] = -0.5;
  CHECK(validate_window(bad, limits()).reason == Rejection::time_out_of_window);
  bad.times_ms[0] = std::nan("");
  CHECK(validate_window(bad, limits()).reason == Rejection::time_out_of_window);

  bad = w;
  bad.counts[1] = 0;
  CHECK(validate_window(bad, limits()).reason == Rejection::wrong_type);

  Window empty;
  empty.end_ms = 600.0;
  CHECK(validate_window(empty, limits()).reason == Rejection::empty_window);
  WindowLimits quiet = limits();
  quiet.allow_empty = true;
  CHECK_FALSE(validate_window(empty, quiet));

  WindowLimits few = limits();
  few.max_events = 3;
  CHECK(validate_window(w, few).reason == Rejection::too_many_events);

  // A stream stride only carries events after the previous end.
  CHECK(validate_window(w, limits(), 50.0).reason == Rejection::time_out_of_window);
}

TEST_CASE("rejections map to HTTP statuses") {
  CHECK(rejection_status(Rejection::malformed) == 400);
  CHECK(rejection_status(Rejection::wrong_type) == 400);
  CHECK(rejection_status(Rejection::unit_out_of_range) == 422);
  CHECK(rejection_status(Rejection::body_too_large) == 413);
  CHECK(rejection_status(Rejection::queue_full) == 429);
  CHECK(rejection_status(Rejection::draining) == 503);
  CHECK(rejection_status(Rejection::deadline_expired) == 504);
  CHECK(rejection_status(Rejection::client_timeout) == 408);
  CHECK(std::string(rejection_name(Rejection::queue_full)) == "queue_full");
}

TEST_CASE("JSON requests parse, default what is optional and refuse bad types") {
  ParseOptions opt;
  DecodeRequest r;
  REQUIRE_FALSE(parse_json_request(R"({"units":[1,2],"times_ms":[0.5,10],"deadline_ms":20,"id":"a"})", opt, r));
  CHECK(r.window.units == std::vector<int32_t>{1, 2});
  CHECK(r.window.times_ms == std::vector<double>{0.5, 10.0});
  CHECK(r.window.counts == std::vector<int32_t>{1, 1});
  CHECK(r.window.end_ms == 600.0);
  CHECK(*r.deadline_ms == 20.0);
  CHECK(r.id == "a");

  DecodeRequest binned;
  REQUIRE_FALSE(parse_json_request(R"({"units":[4,5],"bins":[0,11],"counts":[2,3]})", opt, binned));
  CHECK(binned.window.times_ms == std::vector<double>{0.0, 550.0});
  CHECK(binned.window.counts == std::vector<int32_t>{2, 3});

  auto reason = [&](const std::string& body) {
    DecodeRequest out;
    return parse_json_request(body, opt, out).reason;
  };
  CHECK(reason(R"({"units":[1,2],"times_ms":[0.5,)") == Rejection::malformed);
  CHECK(reason("not json") == Rejection::malformed);
  CHECK(reason(R"([1,2,3])") == Rejection::wrong_type);
  CHECK(reason(R"({"units":"1,2","times_ms":[1,2]})") == Rejection::wrong_type);
  CHECK(reason(R"({"units":[1.5],"times_ms":[1]})") == Rejection::wrong_type);
  CHECK(reason(R"({"units":[1],"times_ms":["1"]})") == Rejection::wrong_type);
  CHECK(reason(R"({"units":[1],"times_ms":[1],"counts":[1.5]})") == Rejection::wrong_type);
  CHECK(reason(R"({"units":[1],"times_ms":[1],"deadline_ms":"soon"})") == Rejection::wrong_type);
  CHECK(reason(R"({"units":[1,2],"times_ms":[1]})") == Rejection::wrong_type);
  CHECK(reason(R"({"times_ms":[1]})") == Rejection::wrong_type);
  CHECK(reason(R"({"units":[99999999999],"times_ms":[1]})") == Rejection::unit_out_of_range);
  CHECK(reason(R"({"units":[1],"times_ms":[1],"id":5})") == Rejection::wrong_type);

  ParseOptions stream = opt;
  stream.require_end = true;
  DecodeRequest s;
  CHECK(parse_json_request(R"({"units":[1],"times_ms":[1]})", stream, s).reason == Rejection::wrong_type);
}

TEST_CASE("binary requests round-trip and malformed ones are refused") {
  Window w = sample_window();
  w.end_ms = 123456.0;
  for (double i = 0; i < 4; ++i) w.times_ms[static_cast<size_t>(i)] += 123456.0 - 600.0;
  const std::string bytes = encode_binary_request(w, 600.0, 15.0);
  CHECK(bytes.size() == binary::kHeaderBytes + 12 * 4);
  ParseOptions opt;
  DecodeRequest r;
  REQUIRE_FALSE(parse_binary_request(bytes, opt, r));
  CHECK(r.window.units == w.units);
  CHECK(r.window.counts == w.counts);
  CHECK(r.window.end_ms == w.end_ms);
  REQUIRE(r.window.times_ms.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(r.window.times_ms[i] == doctest::Approx(w.times_ms[i]).epsilon(1e-9));
  CHECK(*r.deadline_ms == 15.0);

  auto reason = [&](std::string body) {
    DecodeRequest out;
    return parse_binary_request(body, opt, out).reason;
  };
  CHECK(reason(bytes.substr(0, 20)) == Rejection::malformed);
  CHECK(reason(bytes.substr(0, bytes.size() - 4)) == Rejection::malformed);
  std::string wrong_magic = bytes;
  wrong_magic[0] = 'X';
  CHECK(reason(wrong_magic) == Rejection::malformed);
  std::string huge_n = bytes;
  const uint32_t n = 0xFFFFFFFF;
  std::memcpy(huge_n.data() + 8, &n, 4);
  CHECK(reason(huge_n) == Rejection::malformed);
  std::string bad_flags = bytes;
  bad_flags[6] = 0x70;
  CHECK(reason(bad_flags) == Rejection::malformed);

  // Binned times count from time_base_ms in bin_ms steps, and counts default to 1.
  std::string binned(binary::kHeaderBytes + 8, '\0');
  const uint32_t magic = binary::kMagic, one = 1;
  const uint16_t version = 1, flags = binary::kBinnedTimes;
  const double base = 1000.0, end = 1600.0;
  const float bin_ms = 20.0f;
  const int32_t unit = 5, bin = 3;
  std::memcpy(binned.data(), &magic, 4);
  std::memcpy(binned.data() + 4, &version, 2);
  std::memcpy(binned.data() + 6, &flags, 2);
  std::memcpy(binned.data() + 8, &one, 4);
  std::memcpy(binned.data() + 16, &end, 8);
  std::memcpy(binned.data() + 24, &base, 8);
  std::memcpy(binned.data() + 32, &bin_ms, 4);
  std::memcpy(binned.data() + 40, &unit, 4);
  std::memcpy(binned.data() + 44, &bin, 4);
  DecodeRequest b;
  REQUIRE_FALSE(parse_binary_request(binned, opt, b));
  CHECK(b.window.times_ms == std::vector<double>{1060.0});
  CHECK(b.window.counts == std::vector<int32_t>{1});
  CHECK(b.window.end_ms == 1600.0);
}

TEST_CASE("replies carry the velocity, model and timings; errors their reason") {
  Timings t{1.0, 2.0, 3.5};
  const auto doc = nlohmann::json::parse(encode_result({0.5f, -1.0f}, "m", "v1", t, 4, "req-1", {{"seq", 3}}));
  CHECK(doc["velocity"][1].get<double>() == -1.0);
  CHECK(doc["model"]["version"] == "v1");
  CHECK(doc["timings_ms"]["total"].get<double>() == 3.5);
  CHECK(doc["batch_size"] == 4);
  CHECK(doc["id"] == "req-1");
  CHECK(doc["seq"] == 3);
  const auto err = nlohmann::json::parse(encode_error({Rejection::queue_full, "full"}));
  CHECK(err["error"] == "queue_full");
  CHECK(err["status"] == 429);
  CHECK(err["message"] == "full");
}
