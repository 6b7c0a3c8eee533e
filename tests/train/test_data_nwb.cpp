// NWB reader on files the writer produces: round trips, every index integer width, optional
// columns, missing groups and malformed content (each must give a cortex::Error naming the path).
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <limits>

#include "tests/train/test_data_util.h"
#include "train/data/nwb_reader.h"
#include "train/data/nwb_writer.h"

using namespace cortex;
using namespace cortex::data;
using cortex::data::test::edit_file;
using cortex::data::test::small_recording;
using cortex::data::test::TempDir;

// libhdf5 1.10 leaks a few hundred bytes on some error paths for damaged files (the corrupted
// file test below); that is inside the library, so sanitizer builds suppress leaks from it.
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5\n"; }

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::string read_error(const std::string& file) {
  return error_of([&] { read_nwb(file); });
}

}  // namespace

TEST_CASE("nwb: write then read gives back the recording") {
  TempDir dir;
  const Recording rec = small_recording();
  write_nwb(dir.file("a.nwb"), rec);
  const Recording back = read_nwb(dir.file("a.nwb"));
  test::require_same(back, rec);
  CHECK(back.spike_count() == 11);
  CHECK(back.heldout_count() == 1);
  CHECK(back.t_start() == doctest::Approx(0.0));
  CHECK(back.t_stop() == doctest::Approx(2.0));
}

TEST_CASE("nwb: spike_times_index in any integer width and sign") {
  TempDir dir;
  const Recording rec = small_recording();
  const std::vector<std::pair<h5::IntType, size_t>> types{{h5::IntType::u8, 1},  {h5::IntType::u16, 2},
                                                          {h5::IntType::u32, 4}, {h5::IntType::u64, 8},
                                                          {h5::IntType::i8, 1},  {h5::IntType::i16, 2},
                                                          {h5::IntType::i32, 4}, {h5::IntType::i64, 8}};
  for (const auto& [type, size] : types) {
    CAPTURE(h5::int_type_name(type));
    const std::string file = dir.file(std::string("index_") + h5::int_type_name(type) + ".nwb");
    NwbWriteOptions options;
    options.index_type = type;
    write_nwb(file, rec, options);
    {
      auto guard = h5::lock();
      h5::Handle f = h5::open_file(file, false);
      const auto info = h5::dataset_info(f.get(), "/units/spike_times_index");
      CHECK(info.type_class == H5T_INTEGER);
      CHECK(info.type_size == size);
      CHECK(info.is_signed == (h5::int_type_name(type)[0] == 'i'));
    }
    test::require_same(read_nwb(file), rec);
  }
}

TEST_CASE("nwb: the writer refuses index values that do not fit the chosen type") {
  TempDir dir;
  Recording rec = small_recording();
  rec.units[0].spike_times.clear();
  for (int i = 0; i < 300; ++i) rec.units[0].spike_times.push_back(i * 0.001);
  NwbWriteOptions options;
  options.index_type = h5::IntType::u8;
  CHECK(error_of([&] { write_nwb(dir.file("big.nwb"), rec, options); }).find("does not fit u8") != std::string::npos);
}

TEST_CASE("nwb: behaviour stored as starting_time + rate, and inside a container") {
  TempDir dir;
  Recording rec = small_recording();
  BehaviorSeries pos = rec.behavior[0];
  pos.name = "Position/hand_pos";
  pos.unit = "mm";
  rec.behavior.insert(rec.behavior.begin(), pos);  // the reader lists series in name order
  NwbWriteOptions options;
  options.behavior_as_rate = true;
  write_nwb(dir.file("rate.nwb"), rec, options);
  {
    auto guard = h5::lock();
    h5::Handle f = h5::open_file(dir.file("rate.nwb"), false);
    CHECK_FALSE(h5::exists(f.get(), "/processing/behavior/hand_vel/timestamps"));
    CHECK(h5::read_double_attribute(f.get(), "/processing/behavior/hand_vel/starting_time", "rate").value() ==
          doctest::Approx(1000.0));
  }
  const Recording back = read_nwb(dir.file("rate.nwb"));
  test::require_same(back, rec);
  CHECK(back.find_behavior("Position/hand_pos") != nullptr);
}

TEST_CASE("nwb: optional columns (heldout as integers, no move_onset_time) and data conversion") {
  TempDir dir;
  const std::string file = dir.file("cols.nwb");
  write_nwb(file, small_recording());
  edit_file(file, [](hid_t f) {
    h5::delete_link(f, "/units/heldout");
    h5::write_integers(f, "/units/heldout", {1, 0, 0}, h5::IntType::u8);
    h5::delete_link(f, "/intervals/trials/move_onset_time");
    h5::write_double_attribute(f, "/processing/behavior/hand_vel/data", "conversion", 0.001);
  });
  const Recording back = read_nwb(file);
  CHECK(back.units[0].heldout);
  CHECK_FALSE(back.units[2].heldout);
  CHECK(std::isnan(back.trials[0].move_onset_time));
  const std::vector<double> orig = small_recording().behavior[0].data;
  CHECK(back.behavior[0].data[3] == doctest::Approx(orig[3] * 0.001));

  edit_file(file, [](hid_t f) { h5::delete_link(f, "/units/heldout"); });
  CHECK(read_nwb(file).heldout_count() == 0);
}

TEST_CASE("nwb: missing groups and datasets name the HDF5 path") {
  TempDir dir;
  const std::string file = dir.file("m.nwb");
  auto fresh = [&] { write_nwb(file, small_recording()); };

  fresh();
  edit_file(file, [](hid_t f) { h5::delete_link(f, "/intervals/trials"); });
  std::string err = read_error(file);
  CHECK(err.find("/intervals/trials") != std::string::npos);
  CHECK(err.find("missing") != std::string::npos);
  NwbReadOptions lenient;
  lenient.require_trials = false;
  CHECK(read_nwb(file, lenient).trials.empty());

  fresh();
  edit_file(file, [](hid_t f) { h5::delete_link(f, "/units/spike_times_index"); });
  err = read_error(file);
  CHECK(err.find("/units/spike_times_index") != std::string::npos);
  CHECK(err.find("VectorIndex") != std::string::npos);

  fresh();
  edit_file(file, [](hid_t f) { h5::delete_link(f, "/units/spike_times"); });
  CHECK(read_error(file).find("/units/spike_times:") != std::string::npos);

  fresh();
  edit_file(file, [](hid_t f) { h5::delete_link(f, "/units"); });
  CHECK(read_error(file).find("/units") != std::string::npos);

  fresh();
  edit_file(file, [](hid_t f) { h5::delete_link(f, "/intervals/trials/stop_time"); });
  CHECK(read_error(file).find("/intervals/trials/stop_time") != std::string::npos);

  fresh();
  edit_file(file, [](hid_t f) { h5::delete_link(f, "/processing/behavior/hand_vel/timestamps"); });
  err = read_error(file);
  CHECK(err.find("/processing/behavior/hand_vel") != std::string::npos);
  CHECK(err.find("starting_time") != std::string::npos);
}

TEST_CASE("nwb: malformed content gives a clean error") {
  TempDir dir;
  const std::string file = dir.file("bad.nwb");
  auto with_index = [&](const std::vector<int64_t>& index) {
    write_nwb(file, small_recording());
    edit_file(file, [&](hid_t f) {
      h5::delete_link(f, "/units/spike_times_index");
      h5::write_integers(f, "/units/spike_times_index", index, h5::IntType::u16);
    });
    return read_error(file);
  };
  SUBCASE("index past the end of spike_times") {
    const std::string err = with_index({5, 9, 12});
    CHECK(err.find("/units/spike_times_index") != std::string::npos);
    CHECK(err.find("past the end") != std::string::npos);
  }
  SUBCASE("decreasing index") {
    const std::string err = with_index({5, 3, 11});
    CHECK(err.find("/units/spike_times_index") != std::string::npos);
    CHECK(err.find("non-decreasing") != std::string::npos);
  }
  SUBCASE("index shorter than the unit list") { CHECK(with_index({5, 11}).find("one per /units/id") != std::string::npos); }
  SUBCASE("index not covering every spike") { CHECK(with_index({5, 9, 10}).find("must equal the length") != std::string::npos); }
  SUBCASE("index stored as floats") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/units/spike_times_index");
      const std::vector<double> v{5, 9, 11};
      h5::write_doubles(f, "/units/spike_times_index", {3}, v.data());
    });
    CHECK(read_error(file).find("expected an integer dataset, found f64[3]") != std::string::npos);
  }
  SUBCASE("negative index") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/units/spike_times_index");
      h5::write_integers(f, "/units/spike_times_index", {-1, 9, 11}, h5::IntType::i8);
    });
    CHECK(read_error(file).find("negative") != std::string::npos);
  }
  SUBCASE("2-D spike_times") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/units/spike_times");
      const std::vector<double> v(22, 0.5);
      h5::write_doubles(f, "/units/spike_times", {11, 2}, v.data());
    });
    CHECK(read_error(file).find("/units/spike_times: expected") != std::string::npos);
  }
  SUBCASE("NaN spike time") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/units/spike_times");
      std::vector<double> v(11, 0.5);
      v[4] = std::numeric_limits<double>::quiet_NaN();
      h5::write_doubles(f, "/units/spike_times", {11}, v.data());
    });
    CHECK(read_error(file).find("non-finite spike time at 4") != std::string::npos);
  }
  SUBCASE("heldout column of floats") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/units/heldout");
      const std::vector<double> v{0, 1, 0};
      h5::write_doubles(f, "/units/heldout", {3}, v.data());
    });
    CHECK(read_error(file).find("/units/heldout: expected a bool or integer column") != std::string::npos);
  }
  SUBCASE("timestamps shorter than data") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/processing/behavior/hand_vel/timestamps");
      const std::vector<double> v{0, 1, 2};
      h5::write_doubles(f, "/processing/behavior/hand_vel/timestamps", {3}, v.data());
    });
    CHECK(read_error(file).find("/processing/behavior/hand_vel/timestamps: expected 2001 entries") !=
          std::string::npos);
  }
  SUBCASE("starting_time without rate") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/processing/behavior/hand_vel/timestamps");
      const double zero = 0;
      h5::write_doubles(f, "/processing/behavior/hand_vel/starting_time", {}, &zero);
    });
    CHECK(read_error(file).find("/processing/behavior/hand_vel/starting_time: missing attribute `rate`") !=
          std::string::npos);
  }
  SUBCASE("trial columns of different lengths") {
    write_nwb(file, small_recording());
    edit_file(file, [](hid_t f) {
      h5::delete_link(f, "/intervals/trials/move_onset_time");
      const std::vector<double> v{0.4};
      h5::write_doubles(f, "/intervals/trials/move_onset_time", {1}, v.data());
    });
    CHECK(read_error(file).find("/intervals/trials/move_onset_time: expected 2 entries") != std::string::npos);
  }
}

TEST_CASE("nwb: files that are not HDF5, truncated or absent give an error, never a crash") {
  TempDir dir;
  CHECK(read_error(dir.file("absent.nwb")).find("absent.nwb") != std::string::npos);

  const std::string text = dir.file("text.nwb");
  std::ofstream(text) << "this is not an HDF5 file\n";
  CHECK(read_error(text).find("not an HDF5 file") != std::string::npos);

  const std::string full = dir.file("full.nwb");
  write_nwb(full, small_recording());
  const auto size = std::filesystem::file_size(full);
  for (double keep : {0.3, 0.6, 0.9}) {
    const std::string cut = dir.file("cut.nwb");
    std::filesystem::copy_file(full, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, static_cast<uintmax_t>(static_cast<double>(size) * keep));
    CAPTURE(keep);
    CHECK(read_error(cut).rfind("read_nwb", 0) == 0);
  }
}

TEST_CASE("nwb: unsorted spike times of a unit are sorted on read") {
  TempDir dir;
  const std::string file = dir.file("unsorted.nwb");
  write_nwb(file, small_recording());
  edit_file(file, [](hid_t f) {
    h5::delete_link(f, "/units/spike_times");
    const std::vector<double> v{0.7, 0.0012, 0.25, 0.1005, 1.31, 1.9, 0.05, 0.6, 0.61, 1.2, 0.33};
    h5::write_doubles(f, "/units/spike_times", {11}, v.data());
  });
  test::require_same(read_nwb(file), small_recording());
}

TEST_CASE("nwb: randomly corrupted files either read or throw cortex::Error") {
  TempDir dir;
  const std::string base = dir.file("base.nwb");
  write_nwb(base, small_recording());
  std::vector<char> bytes;
  {
    std::ifstream in(base, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::mt19937 rng(2024);
  int read_ok = 0, refused = 0;
  for (int k = 0; k < 120; ++k) {
    std::vector<char> damaged = bytes;
    // Mostly the metadata at the front of the file, sometimes anywhere.
    const size_t span = k % 3 == 0 ? damaged.size() : std::min<size_t>(damaged.size(), 6000);
    for (unsigned f = 0, flips = 1 + rng() % 8; f < flips; ++f) damaged[rng() % span] ^= static_cast<char>(1u << (rng() % 8));
    const std::string file = dir.file("damaged.nwb");
    std::ofstream(file, std::ios::binary).write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
    try {
      read_nwb(file);
      ++read_ok;
    } catch (const Error& e) {
      ++refused;
      CHECK(std::string(e.what()).rfind("read_nwb", 0) == 0);
    }
  }
  MESSAGE("corrupted files: ", read_ok, " read, ", refused, " refused with an error");
  CHECK(refused > 0);
}
