#include "train/data/h5.h"

#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "engine/error.h"

namespace cortex::data::h5 {

Handle::Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) {
  other.id_ = H5I_INVALID_HID;
  other.close_ = nullptr;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0 && close_) close_(id_);
    id_ = other.id_;
    close_ = other.close_;
    other.id_ = H5I_INVALID_HID;
    other.close_ = nullptr;
  }
  return *this;
}

Handle::~Handle() {
  if (id_ >= 0 && close_) close_(id_);
}

namespace {
void silence_hdf5() {
  static std::once_flag silenced;
  std::call_once(silenced, [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
}
}  // namespace

std::unique_lock<std::recursive_mutex> lock() {
  static std::recursive_mutex mutex;
  std::unique_lock<std::recursive_mutex> guard(mutex);
  silence_hdf5();
  return guard;
}

namespace {

herr_t keep_deepest(unsigned, const H5E_error2_t* err, void* data) {
  if (err->desc && *err->desc) *static_cast<std::string*>(data) = err->desc;
  return 0;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  const std::string reason = last_error();
  throw Error(detail::concat("hdf5: ", path, ": ", what, reason.empty() ? "" : " (HDF5: " + reason + ")"));
}

Handle checked(hid_t id, Handle::Closer close, const std::string& path, const std::string& what) {
  if (id < 0) fail(path, what);
  return Handle(id, close);
}

void check(herr_t status, const std::string& path, const std::string& what) {
  if (status < 0) fail(path, what);
}

std::string join(const std::string& obj_path, const std::string& name) {
  return obj_path + (obj_path.empty() || obj_path.back() == '/' ? "" : "/") + "@" + name;
}

// Sanity bound on a dataset's claimed size so a corrupt header cannot ask for terabytes.
constexpr int64_t kMaxElements = int64_t{1} << 34;

std::vector<int64_t> space_shape(hid_t space, const std::string& path) {
  const H5S_class_t kind = H5Sget_simple_extent_type(space);
  if (kind == H5S_NULL) return {0};
  if (kind == H5S_SCALAR) return {};
  if (kind != H5S_SIMPLE) fail(path, "cannot read the dataspace");
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) fail(path, "cannot read the dataspace rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) fail(path, "cannot read the dataspace extent");
  std::vector<int64_t> shape;
  int64_t numel = 1;
  for (hsize_t d : dims) {
    if (d > static_cast<hsize_t>(kMaxElements)) fail(path, detail::concat("implausible dimension ", d));
    shape.push_back(static_cast<int64_t>(d));
    numel *= static_cast<int64_t>(d);
    if (numel > kMaxElements) fail(path, "implausibly large dataset");
  }
  return shape;
}

hid_t native_int(size_t size, bool is_signed) {
  switch (size) {
    case 1: return is_signed ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
    case 2: return is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16;
    case 4: return is_signed ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT32;
    case 8: return is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64;
    default: return H5I_INVALID_HID;
  }
}

hid_t file_int(IntType t) {
  switch (t) {
    case IntType::u8: return H5T_STD_U8LE;
    case IntType::u16: return H5T_STD_U16LE;
    case IntType::u32: return H5T_STD_U32LE;
    case IntType::u64: return H5T_STD_U64LE;
    case IntType::i8: return H5T_STD_I8LE;
    case IntType::i16: return H5T_STD_I16LE;
    case IntType::i32: return H5T_STD_I32LE;
    case IntType::i64: return H5T_STD_I64LE;
  }
  return H5I_INVALID_HID;
}

template <typename T>
int64_t load_int(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return static_cast<int64_t>(v);
}

template <typename T>
std::vector<T> read_numeric(hid_t loc, const std::string& path, hid_t memtype, DatasetInfo* info_out) {
  const DatasetInfo info = dataset_info(loc, path);
  if (info.type_class != H5T_INTEGER && info.type_class != H5T_FLOAT)
    throw Error(detail::concat("hdf5: ", path, ": expected a numeric (integer or float) dataset, found ",
                               info.describe()));
  Handle ds = open_dataset(loc, path);
  std::vector<T> out(static_cast<size_t>(info.numel()));
  if (!out.empty()) check(H5Dread(ds.get(), memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), path, "read failed");
  if (info_out) *info_out = info;
  return out;
}

Handle open_attribute(hid_t loc, const std::string& obj_path, const std::string& name) {
  return checked(H5Aopen_by_name(loc, obj_path.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                 join(obj_path, name), "cannot open attribute");
}

int64_t attribute_numel(hid_t attr, const std::string& where) {
  Handle space = checked(H5Aget_space(attr), H5Sclose, where, "cannot read the attribute's dataspace");
  int64_t n = 1;
  for (int64_t d : space_shape(space.get(), where)) n *= d;
  return n;
}

Handle vlen_string_type() {
  Handle t = checked(H5Tcopy(H5T_C_S1), H5Tclose, "<type>", "cannot create a string type");
  check(H5Tset_size(t.get(), H5T_VARIABLE), "<type>", "cannot make a variable-length string type");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "<type>", "cannot set UTF-8");
  return t;
}

Handle simple_space(const std::vector<int64_t>& shape, const std::string& path) {
  if (shape.empty()) return checked(H5Screate(H5S_SCALAR), H5Sclose, path, "cannot create a scalar dataspace");
  std::vector<hsize_t> dims;
  for (int64_t d : shape) {
    if (d < 0) throw Error(detail::concat("hdf5: ", path, ": negative dimension ", d));
    dims.push_back(static_cast<hsize_t>(d));
  }
  return checked(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, path,
                 "cannot create the dataspace");
}

Handle intermediate_groups() {
  Handle lcpl = checked(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "<plist>", "cannot create a link property list");
  check(H5Pset_create_intermediate_group(lcpl.get(), 1), "<plist>", "cannot enable intermediate groups");
  return lcpl;
}

void write_raw(hid_t loc, const std::string& path, const std::vector<int64_t>& shape, hid_t file_type,
               hid_t mem_type, const void* data) {
  Handle space = simple_space(shape, path);
  Handle lcpl = intermediate_groups();
  Handle ds = checked(H5Dcreate2(loc, path.c_str(), file_type, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                      H5Dclose, path, "cannot create the dataset");
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (numel > 0) check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, "write failed");
}

Handle fresh_attribute(hid_t loc, const std::string& obj_path, const std::string& name, hid_t type, hid_t space) {
  const std::string where = join(obj_path, name);
  const htri_t present = H5Aexists_by_name(loc, obj_path.c_str(), name.c_str(), H5P_DEFAULT);
  if (present < 0) fail(where, "cannot check for the attribute");
  if (present > 0) check(H5Adelete_by_name(loc, obj_path.c_str(), name.c_str(), H5P_DEFAULT), where, "cannot replace");
  return checked(H5Acreate_by_name(loc, obj_path.c_str(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT,
                                   H5P_DEFAULT),
                 H5Aclose, where, "cannot create the attribute");
}

std::vector<const char*> c_strings(const std::vector<std::string>& values) {
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  return ptrs;
}

H5I_type_t object_type(hid_t loc, const std::string& path) {
  if (!exists(loc, path)) return H5I_BADID;
  Handle obj(H5Oopen(loc, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) return H5I_BADID;
  return H5Iget_type(obj.get());
}

}  // namespace

std::string last_error() {
  std::string deepest;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_deepest, &deepest);
  return deepest;
}

Handle open_file(const std::string& file, bool writable) {
  silence_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw Error(detail::concat("hdf5: ", file, ": no such file"));
  const htri_t is_hdf5 = H5Fis_hdf5(file.c_str());
  if (is_hdf5 <= 0) {
    const std::string reason = last_error();
    throw Error(detail::concat("hdf5: ", file, ": ", is_hdf5 == 0 ? "not an HDF5 file" : "cannot open the file",
                               reason.empty() ? "" : " (HDF5: " + reason + ")"));
  }
  return checked(H5Fopen(file.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, file,
                 "cannot open the file");
}

Handle create_file(const std::string& file) {
  silence_hdf5();
  return checked(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, file,
                 "cannot create the file");
}

bool exists(hid_t loc, const std::string& path) {
  if (path.empty() || path == "/") return true;
  size_t pos = path[0] == '/' ? 1 : 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) {
      const std::string prefix = path.substr(0, next);
      if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    pos = next + 1;
  }
  return true;
}

bool is_group(hid_t loc, const std::string& path) { return object_type(loc, path) == H5I_GROUP; }
bool is_dataset(hid_t loc, const std::string& path) { return object_type(loc, path) == H5I_DATASET; }

Handle open_group(hid_t loc, const std::string& path) {
  if (!exists(loc, path)) throw Error(detail::concat("hdf5: ", path, ": missing; expected a group"));
  return checked(H5Gopen2(loc, path.c_str(), H5P_DEFAULT), H5Gclose, path, "expected a group");
}

Handle open_dataset(hid_t loc, const std::string& path) {
  if (!exists(loc, path)) throw Error(detail::concat("hdf5: ", path, ": missing; expected a dataset"));
  return checked(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), H5Dclose, path, "expected a dataset");
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> children(hid_t loc, const std::string& group_path) {
  Handle group = open_group(loc, group_path);
  std::vector<std::string> names;
  hsize_t index = 0;
  check(H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_name, &names), group_path,
        "cannot list the group");
  return names;
}

int64_t DatasetInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string DatasetInfo::describe() const {
  std::ostringstream os;
  const std::string width = std::to_string(type_size * 8);
  switch (type_class) {
    case H5T_INTEGER: os << (is_signed ? "i" : "u") << width; break;
    case H5T_FLOAT: os << "f" << width; break;
    case H5T_ENUM: os << "enum(" << (is_signed ? "i" : "u") << width << ")"; break;
    case H5T_STRING: os << "string"; break;
    case H5T_COMPOUND: os << "compound"; break;
    case H5T_REFERENCE: os << "reference"; break;
    default: os << "type-class-" << static_cast<int>(type_class); break;
  }
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

DatasetInfo dataset_info(hid_t loc, const std::string& path) {
  Handle ds = open_dataset(loc, path);
  Handle type = checked(H5Dget_type(ds.get()), H5Tclose, path, "cannot read the datatype");
  DatasetInfo info;
  info.type_class = H5Tget_class(type.get());
  if (info.type_class == H5T_NO_CLASS) fail(path, "cannot read the datatype class");
  info.type_size = H5Tget_size(type.get());
  if (info.type_size == 0) fail(path, "cannot read the datatype size");
  if (info.type_class == H5T_INTEGER) {
    info.is_signed = H5Tget_sign(type.get()) == H5T_SGN_2;
  } else if (info.type_class == H5T_ENUM) {
    Handle base = checked(H5Tget_super(type.get()), H5Tclose, path, "cannot read the enum's base type");
    info.is_signed = H5Tget_sign(base.get()) == H5T_SGN_2;
  }
  Handle space = checked(H5Dget_space(ds.get()), H5Sclose, path, "cannot read the dataspace");
  info.shape = space_shape(space.get(), path);
  return info;
}

std::vector<double> read_doubles(hid_t loc, const std::string& path, DatasetInfo* info) {
  return read_numeric<double>(loc, path, H5T_NATIVE_DOUBLE, info);
}

std::vector<float> read_floats(hid_t loc, const std::string& path, DatasetInfo* info) {
  return read_numeric<float>(loc, path, H5T_NATIVE_FLOAT, info);
}

std::vector<int64_t> read_integers(hid_t loc, const std::string& path, DatasetInfo* info_out) {
  const DatasetInfo info = dataset_info(loc, path);
  if (info.type_class != H5T_INTEGER && info.type_class != H5T_ENUM)
    throw Error(detail::concat("hdf5: ", path, ": expected an integer dataset, found ", info.describe()));
  Handle ds = open_dataset(loc, path);
  Handle file_type = checked(H5Dget_type(ds.get()), H5Tclose, path, "cannot read the datatype");
  // Read in the file's own width and sign (native byte order), then widen to int64 here.
  Handle mem_type;
  if (info.type_class == H5T_ENUM) {
    mem_type = checked(H5Tget_native_type(file_type.get(), H5T_DIR_ASCEND), H5Tclose, path,
                       "cannot map the enum to a native type");
  } else {
    const hid_t native = native_int(info.type_size, info.is_signed);
    if (native < 0) throw Error(detail::concat("hdf5: ", path, ": unsupported integer width ", info.type_size));
    mem_type = checked(H5Tcopy(native), H5Tclose, path, "cannot copy a native type");
  }
  const size_t size = H5Tget_size(mem_type.get());
  if (size != 1 && size != 2 && size != 4 && size != 8)
    throw Error(detail::concat("hdf5: ", path, ": unsupported integer width ", size, " bytes"));
  const size_t n = static_cast<size_t>(info.numel());
  std::vector<unsigned char> raw(n * size);
  if (n > 0) check(H5Dread(ds.get(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), path, "read failed");
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = raw.data() + i * size;
    switch (size) {
      case 1: out[i] = info.is_signed ? load_int<int8_t>(p) : load_int<uint8_t>(p); break;
      case 2: out[i] = info.is_signed ? load_int<int16_t>(p) : load_int<uint16_t>(p); break;
      case 4: out[i] = info.is_signed ? load_int<int32_t>(p) : load_int<uint32_t>(p); break;
      default: {
        if (info.is_signed) {
          out[i] = load_int<int64_t>(p);
        } else {
          uint64_t v;
          std::memcpy(&v, p, 8);
          if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw Error(detail::concat("hdf5: ", path, ": value ", v, " at ", i, " does not fit int64"));
          out[i] = static_cast<int64_t>(v);
        }
      }
    }
  }
  if (info_out) *info_out = info;
  return out;
}

bool has_attribute(hid_t loc, const std::string& obj_path, const std::string& name) {
  if (!exists(loc, obj_path)) return false;
  return H5Aexists_by_name(loc, obj_path.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::optional<double> read_double_attribute(hid_t loc, const std::string& obj_path, const std::string& name) {
  if (!has_attribute(loc, obj_path, name)) return std::nullopt;
  const std::string where = join(obj_path, name);
  Handle attr = open_attribute(loc, obj_path, name);
  Handle type = checked(H5Aget_type(attr.get()), H5Tclose, where, "cannot read the attribute type");
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw Error(detail::concat("hdf5: ", where, ": expected a numeric attribute"));
  if (attribute_numel(attr.get(), where) != 1)
    throw Error(detail::concat("hdf5: ", where, ": expected a single number"));
  double value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value), where, "cannot read the attribute");
  return value;
}

std::optional<std::string> read_string_attribute(hid_t loc, const std::string& obj_path, const std::string& name) {
  if (!has_attribute(loc, obj_path, name)) return std::nullopt;
  const std::string where = join(obj_path, name);
  Handle attr = open_attribute(loc, obj_path, name);
  Handle type = checked(H5Aget_type(attr.get()), H5Tclose, where, "cannot read the attribute type");
  if (H5Tget_class(type.get()) != H5T_STRING)
    throw Error(detail::concat("hdf5: ", where, ": expected a string attribute"));
  if (attribute_numel(attr.get(), where) != 1)
    throw Error(detail::concat("hdf5: ", where, ": expected a single string"));
  const htri_t variable = H5Tis_variable_str(type.get());
  if (variable < 0) fail(where, "cannot read the string type");
  Handle mem = checked(H5Tcopy(H5T_C_S1), H5Tclose, where, "cannot copy the string type");
  check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), where, "cannot set the character set");
  if (variable > 0) {
    check(H5Tset_size(mem.get(), H5T_VARIABLE), where, "cannot make a variable-length type");
    char* text = nullptr;
    check(H5Aread(attr.get(), mem.get(), &text), where, "cannot read the attribute");
    std::string value = text ? text : "";
    if (text) H5free_memory(text);
    return value;
  }
  const size_t size = H5Tget_size(type.get());
  check(H5Tset_size(mem.get(), size), where, "cannot size the string type");
  std::vector<char> buffer(size + 1, '\0');
  check(H5Aread(attr.get(), mem.get(), buffer.data()), where, "cannot read the attribute");
  return std::string(buffer.data());
}

const char* int_type_name(IntType t) {
  switch (t) {
    case IntType::u8: return "u8";
    case IntType::u16: return "u16";
    case IntType::u32: return "u32";
    case IntType::u64: return "u64";
    case IntType::i8: return "i8";
    case IntType::i16: return "i16";
    case IntType::i32: return "i32";
    case IntType::i64: return "i64";
  }
  return "?";
}

void create_group(hid_t loc, const std::string& path) {
  if (exists(loc, path)) {
    if (!is_group(loc, path)) throw Error(detail::concat("hdf5: ", path, ": exists and is not a group"));
    return;
  }
  Handle lcpl = intermediate_groups();
  checked(H5Gcreate2(loc, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose, path,
          "cannot create the group");
}

void write_doubles(hid_t loc, const std::string& path, const std::vector<int64_t>& shape, const double* data) {
  write_raw(loc, path, shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data);
}

void write_floats(hid_t loc, const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  write_raw(loc, path, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data);
}

void write_integers(hid_t loc, const std::string& path, const std::vector<int64_t>& values, IntType type) {
  int64_t low = 0;
  uint64_t high = 0;
  switch (type) {
    case IntType::u8: high = UINT8_MAX; break;
    case IntType::u16: high = UINT16_MAX; break;
    case IntType::u32: high = UINT32_MAX; break;
    case IntType::u64: high = UINT64_MAX; break;
    case IntType::i8: low = INT8_MIN, high = INT8_MAX; break;
    case IntType::i16: low = INT16_MIN, high = INT16_MAX; break;
    case IntType::i32: low = INT32_MIN, high = INT32_MAX; break;
    case IntType::i64: low = INT64_MIN, high = INT64_MAX; break;
  }
  for (int64_t v : values) {
    if (v < low || (v > 0 && static_cast<uint64_t>(v) > high))
      throw Error(detail::concat("hdf5: ", path, ": value ", v, " does not fit ", int_type_name(type)));
  }
  write_raw(loc, path, {static_cast<int64_t>(values.size())}, file_int(type), H5T_NATIVE_INT64, values.data());
}

void write_bools(hid_t loc, const std::string& path, const std::vector<bool>& values) {
  Handle type = checked(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose, path, "cannot create the bool enum");
  const int8_t no = 0, yes = 1;
  check(H5Tenum_insert(type.get(), "FALSE", &no), path, "cannot build the bool enum");
  check(H5Tenum_insert(type.get(), "TRUE", &yes), path, "cannot build the bool enum");
  std::vector<int8_t> bytes(values.begin(), values.end());
  write_raw(loc, path, {static_cast<int64_t>(values.size())}, type.get(), type.get(), bytes.data());
}

void write_string(hid_t loc, const std::string& path, const std::string& value) {
  Handle type = vlen_string_type();
  const char* text = value.c_str();
  write_raw(loc, path, {}, type.get(), type.get(), &text);
}

void write_strings(hid_t loc, const std::string& path, const std::vector<std::string>& values) {
  Handle type = vlen_string_type();
  const auto ptrs = c_strings(values);
  write_raw(loc, path, {static_cast<int64_t>(values.size())}, type.get(), type.get(), ptrs.data());
}

void write_string_attribute(hid_t loc, const std::string& obj_path, const std::string& name,
                            const std::string& value) {
  Handle type = vlen_string_type();
  Handle space = simple_space({}, join(obj_path, name));
  Handle attr = fresh_attribute(loc, obj_path, name, type.get(), space.get());
  const char* text = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &text), join(obj_path, name), "cannot write the attribute");
}

void write_strings_attribute(hid_t loc, const std::string& obj_path, const std::string& name,
                             const std::vector<std::string>& values) {
  Handle type = vlen_string_type();
  Handle space = simple_space({static_cast<int64_t>(values.size())}, join(obj_path, name));
  Handle attr = fresh_attribute(loc, obj_path, name, type.get(), space.get());
  const auto ptrs = c_strings(values);
  if (!ptrs.empty()) check(H5Awrite(attr.get(), type.get(), ptrs.data()), join(obj_path, name), "cannot write");
}

void write_double_attribute(hid_t loc, const std::string& obj_path, const std::string& name, double value) {
  Handle space = simple_space({}, join(obj_path, name));
  Handle attr = fresh_attribute(loc, obj_path, name, H5T_IEEE_F64LE, space.get());
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), join(obj_path, name), "cannot write the attribute");
}

void write_reference_attribute(hid_t loc, const std::string& obj_path, const std::string& name,
                               const std::string& target_path) {
  const std::string where = join(obj_path, name);
  hobj_ref_t ref;
  check(H5Rcreate(&ref, loc, target_path.c_str(), H5R_OBJECT, -1), where, "cannot reference " + target_path);
  Handle space = simple_space({}, where);
  Handle attr = fresh_attribute(loc, obj_path, name, H5T_STD_REF_OBJ, space.get());
  check(H5Awrite(attr.get(), H5T_STD_REF_OBJ, &ref), where, "cannot write the attribute");
}

void delete_link(hid_t loc, const std::string& path) {
  check(H5Ldelete(loc, path.c_str(), H5P_DEFAULT), path, "cannot delete");
}

}  // namespace cortex::data::h5
