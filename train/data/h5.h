#pragma once
// A thin, checked layer over the HDF5 C API (serial libhdf5 1.10). Every call is checked and
// a failure becomes a cortex::Error "hdf5: <path>: <what was expected> (<HDF5's reason>)".
// The library's automatic error printing is silenced on first use. Serial HDF5 is not
// thread-safe, so every public entry point of the data layer holds h5::lock().
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cortex::data::h5 {

// Owns one hid_t and closes it with the matching H5?close on destruction. Move-only.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

// Serialises HDF5 use across threads; also silences HDF5's error printing on first call.
std::unique_lock<std::recursive_mutex> lock();

// The deepest message on HDF5's error stack for this thread ("" when empty). Read it right
// after the failing call.
std::string last_error();

Handle open_file(const std::string& file, bool writable);
Handle create_file(const std::string& file);  // truncates an existing file

// True when every link along `path` exists ("/" always does).
bool exists(hid_t loc, const std::string& path);
bool is_group(hid_t loc, const std::string& path);
bool is_dataset(hid_t loc, const std::string& path);
Handle open_group(hid_t loc, const std::string& path);
Handle open_dataset(hid_t loc, const std::string& path);
// Names of the links directly inside a group, in name order.
std::vector<std::string> children(hid_t loc, const std::string& group_path);

// What a dataset holds: type class, element size and sign, and its shape (empty = scalar).
struct DatasetInfo {
  H5T_class_t type_class = H5T_NO_CLASS;
  size_t type_size = 0;
  bool is_signed = false;
  std::vector<int64_t> shape;
  int64_t numel() const;
  std::string describe() const;  // "u16[1234]", "f32[75, 140, 107]", "enum(i8)[5]"
};
DatasetInfo dataset_info(hid_t loc, const std::string& path);

// Reads a dataset of any integer or float type, converted. `info` (optional) receives the shape.
std::vector<double> read_doubles(hid_t loc, const std::string& path, DatasetInfo* info = nullptr);
std::vector<float> read_floats(hid_t loc, const std::string& path, DatasetInfo* info = nullptr);
// Reads an integer or enum-over-integer dataset of any width and sign (found with
// H5Tget_size/H5Tget_sign) as int64; unsigned values above INT64_MAX are an error.
std::vector<int64_t> read_integers(hid_t loc, const std::string& path, DatasetInfo* info = nullptr);

// Attributes of the object at obj_path; nullopt when absent.
bool has_attribute(hid_t loc, const std::string& obj_path, const std::string& name);
std::optional<double> read_double_attribute(hid_t loc, const std::string& obj_path, const std::string& name);
std::optional<std::string> read_string_attribute(hid_t loc, const std::string& obj_path, const std::string& name);

// ---- writing (used by the NWB writer and by tests that build malformed files) ----
enum class IntType { u8, u16, u32, u64, i8, i16, i32, i64 };
const char* int_type_name(IntType t);

// Groups along the path are created as needed.
void create_group(hid_t loc, const std::string& path);
void write_doubles(hid_t loc, const std::string& path, const std::vector<int64_t>& shape, const double* data);
void write_floats(hid_t loc, const std::string& path, const std::vector<int64_t>& shape, const float* data);
// Stored as `type`; every value must fit it.
void write_integers(hid_t loc, const std::string& path, const std::vector<int64_t>& values, IntType type);
// h5py's layout for numpy bool: an enum {FALSE = 0, TRUE = 1} over int8.
void write_bools(hid_t loc, const std::string& path, const std::vector<bool>& values);
// A scalar variable-length UTF-8 string dataset, or a 1-D array of them.
void write_string(hid_t loc, const std::string& path, const std::string& value);
void write_strings(hid_t loc, const std::string& path, const std::vector<std::string>& values);
void write_string_attribute(hid_t loc, const std::string& obj_path, const std::string& name,
                            const std::string& value);
void write_strings_attribute(hid_t loc, const std::string& obj_path, const std::string& name,
                             const std::vector<std::string>& values);
void write_double_attribute(hid_t loc, const std::string& obj_path, const std::string& name, double value);
// An HDF5 object reference (how NWB's VectorIndex names its `target`).
void write_reference_attribute(hid_t loc, const std::string& obj_path, const std::string& name,
                               const std::string& target_path);
void delete_link(hid_t loc, const std::string& path);

}  // namespace cortex::data::h5
