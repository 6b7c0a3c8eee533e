#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("cortex_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file with the given header text and data bytes, laid out as the format prescribes.
std::string file_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// Loads `bytes` from a file and returns the error message ("" when it loads).
std::string load_error(const TempDir& dir, const std::string& bytes) {
  const std::string path = dir.file("case.safetensors");
  write_bytes(path, bytes);
  try {
    nn::load_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string four_floats() {
  const float v[4] = {1.f, 2.f, 3.f, 4.f};
  return std::string(reinterpret_cast<const char*>(v), sizeof v);
}

}  // namespace

TEST_CASE("every dtype round-trips with its metadata") {
  TempDir dir;
  nn::StateDict tensors;
  Generator gen(9);
  tensors.insert("f32", random({3, 17}, 1, DType::f32));
  tensors.insert("f64", random({129}, 2, DType::f64));
  tensors.insert("bf16", random({2, 3, 5}, 3, DType::bf16));
  tensors.insert("f16", random({17}, 4, DType::f16));
  tensors.insert("i8", randint({7}, -128, 128, DType::i8, Device::cpu(), &gen));
  tensors.insert("u8", randint({3, 3}, 0, 256, DType::u8, Device::cpu(), &gen));
  tensors.insert("bool", bernoulli({11}, 0.5, DType::boolean, Device::cpu(), &gen));
  tensors.insert("i32", randint({5}, -100000, 100000, DType::i32, Device::cpu(), &gen));
  tensors.insert("i64", randint({2, 2}, -(int64_t(1) << 40), int64_t(1) << 40, DType::i64, Device::cpu(), &gen));
  tensors.insert("scalar", scalar_tensor(2.5));
  tensors.insert("empty", zeros({0, 3}));
  tensors.insert("view", noncontiguous(random({4, 3}, 5, DType::f32)));
  const nn::Metadata meta{{"config", R"({"d_model": 256, "name": "cortex-small"})"}, {"format", "pt"}, {"empty", ""}};
  const std::string path = dir.file("all.safetensors");
  nn::save_safetensors(path, tensors, meta);

  const auto loaded = nn::load_safetensors(path);
  CHECK(loaded.metadata == meta);
  CHECK(loaded.tensors.names() == tensors.names());
  for (const auto& [name, t] : tensors) {
    INFO(name);
    const Tensor& u = loaded.tensors.at(name);
    CHECK(u.dtype() == t.dtype());
    CHECK(u.shape() == t.shape());
    CHECK(u.is_contiguous());
    CHECK(values(u) == values(t));
  }
  const auto header = nn::read_safetensors_header(path);
  CHECK(header.metadata == meta);
  CHECK(header.entries.size() == tensors.size());
  CHECK(header.data_start % 8 == 0);
  // Widest elements first, so every tensor's data is aligned to its element size.
  for (const auto& e : header.entries) CHECK(e.begin % dtype_size(e.dtype) == 0);
  // No temporary file is left behind, and overwriting replaces the file.
  nn::StateDict one;
  one.insert("x", ones({2}));
  nn::save_safetensors(path, one);
  CHECK(nn::load_safetensors(path).tensors.names() == std::vector<std::string>{"x"});
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("the written bytes follow the format by hand") {
  TempDir dir;
  nn::StateDict tensors;
  tensors.insert("b", from_vector(std::vector<uint8_t>{7, 8, 9}, {3}));
  tensors.insert("a", from_vector(std::vector<float>{1.f, -2.f}, {2, 1}));
  const std::string path = dir.file("layout.safetensors");
  nn::save_safetensors(path, tensors, {{"k", "v"}});
  const std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  REQUIRE(8 + n <= bytes.size());
  CHECK((8 + n) % 8 == 0);
  const std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  const size_t close = header.rfind('}');
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);  // padding is spaces
  const auto j = nlohmann::json::parse(header);
  CHECK(j["__metadata__"] == nlohmann::json{{"k", "v"}});
  CHECK(j["a"]["dtype"] == "F32");
  CHECK(j["a"]["shape"] == nlohmann::json::array({2, 1}));
  CHECK(j["a"]["data_offsets"] == nlohmann::json::array({0, 8}));  // the wider dtype goes first
  CHECK(j["b"]["dtype"] == "U8");
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({8, 11}));
  CHECK(bytes.size() == 8 + n + 11);
  const float expected[2] = {1.f, -2.f};
  CHECK(std::memcmp(bytes.data() + 8 + n, expected, 8) == 0);
  CHECK(bytes.substr(8 + n + 8) == std::string("\x07\x08\x09"));
  // The header keeps the state dict's order.
  CHECK(header.find("\"b\"") < header.find("\"a\""));
}

TEST_CASE("a truncated file fails cleanly at every cut point") {
  TempDir dir;
  nn::StateDict tensors;
  tensors.insert("w", random({5, 3}, 1, DType::f32));
  tensors.insert("ids", randint({4}, 0, 9, DType::i64));
  const std::string path = dir.file("full.safetensors");
  nn::save_safetensors(path, tensors, {{"config", "{}"}});
  const std::string bytes = read_bytes(path);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("cut at ", cut, " of ", bytes.size());
    const std::string msg = load_error(dir, bytes.substr(0, cut));
    CHECK(msg.find("safetensors: ") == 0);
    CHECK(msg.find("case.safetensors") != std::string::npos);
  }
  CHECK(load_error(dir, bytes) == "");
}

TEST_CASE("malformed headers fail with a message naming the problem") {
  TempDir dir;
  const std::string ok_entry = R"("x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]})";
  auto with = [](const std::string& entries) { return "{" + entries + "}"; };
  const struct {
    const char* what;
    std::string bytes;
    const char* expect;
  } cases[] = {
      {"empty file", "", "too short"},
      {"7 bytes", std::string(7, '\0'), "too short"},
      {"length past the end", le64(1000) + "{}", "exceeds"},
      {"absurd length", le64(uint64_t(1) << 40) + std::string(64, ' '), "absurd"},
      {"bad JSON", file_bytes("{\"x\": [1, 2", ""), "not valid JSON"},
      {"trailing junk", file_bytes("{} x", ""), "not valid JSON"},
      {"not an object", file_bytes("[1, 2]", ""), "must be a JSON object"},
      {"entry not an object", file_bytes(R"({"x": 5})", ""), "tensor 'x' must be a JSON object"},
      {"unknown dtype", file_bytes(R"({"x": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})",
                                   std::string(4, '\0')), "unknown or unsupported dtype 'F8_E4M3'"},
      {"dtype not a string", file_bytes(R"({"x": {"dtype": 3, "shape": [4], "data_offsets": [0, 4]}})", ""),
       "non-string dtype"},
      {"negative dim", file_bytes(R"({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", ""),
       "shape entry is negative"},
      {"fractional dim", file_bytes(R"({"x": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", ""),
       "must be a non-negative integer"},
      {"shape not an array", file_bytes(R"({"x": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})", ""),
       "shape that is not an array"},
      {"overflowing shape",
       file_bytes(R"({"x": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 16]}})", ""),
       "absurd shape"},
      {"missing field", file_bytes(R"({"x": {"dtype": "F32", "shape": [4]}})", ""), "lacks the field 'data_offsets'"},
      {"unknown field", file_bytes(with(R"("x": {"dtype": "F32", "shape": [], "data_offsets": [0, 4], "extra": 1})"),
                                   std::string(4, '\0')), "unknown field 'extra'"},
      {"offsets not a pair", file_bytes(R"({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0]}})", ""),
       "must be [begin, end]"},
      {"negative offset", file_bytes(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", ""),
       "begin is negative"},
      {"end before begin", file_bytes(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})",
                                      std::string(8, '\0')), "end before they begin"},
      {"size mismatch", file_bytes(with(ok_entry).replace(with(ok_entry).find("[2, 2]"), 6, "[2, 3]"), four_floats() + four_floats()),
       "span 16"},
      {"offsets outside data", file_bytes(with(ok_entry), four_floats().substr(0, 8)),
       "reach past the data section of 8 bytes"},
      {"overlap",
       file_bytes(with(ok_entry + R"(, "y": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]})"), four_floats() + four_floats()),
       "overlap"},
      {"gap", file_bytes(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", four_floats()),
       "belong to no tensor"},
      {"trailing data", file_bytes(with(ok_entry), four_floats() + "zz"), "last 2 bytes"},
      {"duplicate key", file_bytes(with(ok_entry + ", " + ok_entry), four_floats() + four_floats()), "'x' twice"},
      {"metadata not strings", file_bytes(R"({"__metadata__": {"a": 1}})", ""), "not a string"},
      {"metadata not an object", file_bytes(R"({"__metadata__": [1]})", ""), "__metadata__ must be an object"},
      {"deep nesting", file_bytes(R"({"x": {"shape": [[[[[1]]]]]}})", ""), "nested deeper"},
      {"empty name", file_bytes(R"({"": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})", ""), "empty name"},
      {"invalid bool", file_bytes(R"({"b": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}})", "\x01\x07"),
       "holds byte 7"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const std::string msg = load_error(dir, c.bytes);
    INFO(msg);
    CHECK(msg.find("safetensors: ") == 0);
    CHECK(msg.find("case.safetensors") != std::string::npos);
    CHECK(msg.find(c.expect) != std::string::npos);
  }
  // The well-formed variants of the same pieces load.
  CHECK(load_error(dir, file_bytes(with(ok_entry), four_floats())) == "");
  CHECK(load_error(dir, file_bytes("{}   ", "")) == "");
}

TEST_CASE("random corruption never gets past validation unnoticed or crashes") {
  TempDir dir;
  nn::StateDict tensors;
  tensors.insert("a", random({3, 4}, 1, DType::bf16));
  tensors.insert("b", bernoulli({5}, 0.5, DType::boolean));
  const std::string path = dir.file("src.safetensors");
  nn::save_safetensors(path, tensors, {{"m", "x"}});
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  Generator gen(5);
  const auto positions = randint({400}, 0, static_cast<int64_t>(8 + n), DType::i64, Device::cpu(), &gen).to_vector<int64_t>();
  const auto replacements = randint({400}, 0, 256, DType::i64, Device::cpu(), &gen).to_vector<int64_t>();
  int failed = 0, loaded = 0;
  for (size_t i = 0; i < positions.size(); ++i) {
    std::string corrupt = bytes;
    corrupt[static_cast<size_t>(positions[i])] = static_cast<char>(replacements[i]);
    const std::string msg = load_error(dir, corrupt);
    if (msg.empty()) {
      ++loaded;
    } else {
      ++failed;
      CHECK(msg.find("safetensors: ") == 0);
    }
  }
  // Most flips in the length or the JSON structure must be caught.
  CHECK(failed > 200);
  CHECK(failed + loaded == 400);
}

TEST_CASE("saving and loading report bad paths and names") {
  TempDir dir;
  nn::StateDict t;
  t.insert("x", ones({2}));
  CHECK_THROWS_WITH_AS(nn::save_safetensors(dir.file("missing/dir/x.safetensors"), t),
                       doctest::Contains("cannot create"), Error);
  CHECK_THROWS_WITH_AS(nn::load_safetensors(dir.file("nope.safetensors")), doctest::Contains("not a regular file"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::load_safetensors(dir.path.string()), doctest::Contains("not a regular file"), Error);
  nn::StateDict reserved;
  reserved.insert("__metadata__", ones({1}));
  CHECK_THROWS_WITH_AS(nn::save_safetensors(dir.file("r.safetensors"), reserved), doctest::Contains("__metadata__"),
                       Error);
  nn::StateDict bad_utf8;
  bad_utf8.insert("\xff\xfe", ones({1}));
  CHECK_THROWS_WITH_AS(nn::save_safetensors(dir.file("u.safetensors"), bad_utf8), doctest::Contains("UTF-8"), Error);
  // A failed save leaves nothing behind.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 0);
}

CORTEX_GPU_TEST("tensors on the GPU are saved and loaded back onto it") {
  TempDir dir;
  nn::StateDict t;
  t.insert("g", random({3, 129}, 1, DType::bf16, gpu()));
  const std::string path = dir.file("gpu.safetensors");
  nn::save_safetensors(path, t);
  const auto loaded = nn::load_safetensors(path, gpu());
  CHECK(loaded.tensors.at("g").device() == gpu());
  CHECK(values(loaded.tensors.at("g")) == values(t.at("g")));
}
