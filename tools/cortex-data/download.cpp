#include "download.h"

#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

extern char** environ;

namespace cortex_data {
namespace {
namespace fs = std::filesystem;

constexpr const char* kApi = "https://api.dandiarchive.org/api";

struct Dataset {
  std::string name, dandiset, description;
};
const std::vector<Dataset> kDatasets{
    {"mc_maze_small", "000140", "MC_Maze_Small: macaque M1/PMd, delayed centre-out and maze reaches (NLB)"}};

std::optional<fs::path> find_in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

struct CurlResult {
  int exit_code = -1;
  std::string stderr_text;
};

// Runs curl with `args` (no shell), its stderr captured to a file beside the output.
CurlResult run_curl(const fs::path& curl, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_strings{curl.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  CurlResult result;
  const int rc = posix_spawn(&pid, curl.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    result.stderr_text = "could not start curl";
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log);
  std::getline(in, result.stderr_text, '\0');
  while (!result.stderr_text.empty() && (result.stderr_text.back() == '\n' || result.stderr_text.back() == '\r'))
    result.stderr_text.pop_back();
  std::error_code ec;
  fs::remove(log, ec);
  return result;
}

// curl exit codes that mean the host could not be reached at all.
bool is_unreachable(int code) {
  return code == 5 || code == 6 || code == 7 || code == 28 || code == 35 || code == 52 || code == 56;
}

}  // namespace

int download(const std::string& name, const std::string& dir) {
  const Dataset* dataset = nullptr;
  for (const auto& d : kDatasets) {
    if (d.name == name) dataset = &d;
  }
  if (!dataset) {
    std::cerr << "cortex-data download: unknown data set '" << name << "'; known: ";
    for (const auto& d : kDatasets) std::cerr << d.name << " (dandiset " << d.dandiset << ")\n";
    return kExitUsage;
  }
  std::cout << "data set " << dataset->name << ": DANDI dandiset " << dataset->dandiset << " - "
            << dataset->description << "\n";

  const auto curl = find_in_path("curl");
  if (!curl) {
    std::cerr << "cortex-data download: curl is not installed, so nothing can be fetched. Download dandiset "
              << dataset->dandiset << " from https://dandiarchive.org/dandiset/" << dataset->dandiset
              << " on a machine with network access and copy its .nwb files to " << dir << "\n";
    return kExitNoNetwork;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    std::cerr << "cortex-data download: cannot create the folder " << dir << ": " << ec.message() << "\n";
    return kExitFailed;
  }

  const fs::path listing = fs::path(dir) / (".dandi_" + dataset->dandiset + "_assets.json");
  const fs::path log = fs::path(dir) / ".curl_stderr.log";
  const std::string url = std::string(kApi) + "/dandisets/" + dataset->dandiset + "/versions/draft/assets/?page_size=100";
  std::cout << "asking the DANDI archive for the file list: " << url << "\n" << std::flush;
  const CurlResult listed = run_curl(
      *curl, {"--silent", "--show-error", "--fail", "--location", "--connect-timeout", "8", "--max-time", "15",
              "--output", listing.string(), url},
      log);
  if (listed.exit_code != 0) {
    fs::remove(listing, ec);
    if (listed.exit_code < 0 || is_unreachable(listed.exit_code)) {
      std::cerr << "cortex-data download: no network reachable: could not reach api.dandiarchive.org (curl exit "
                << listed.exit_code << (listed.stderr_text.empty() ? "" : ": " + listed.stderr_text) << ").\n"
                << "Download dandiset " << dataset->dandiset << " from https://dandiarchive.org/dandiset/"
                << dataset->dandiset << " on a machine with network access and copy its .nwb files to " << dir
                << "\n";
    } else {
      std::cerr << "cortex-data download: the DANDI archive refused the request (curl exit " << listed.exit_code
                << (listed.stderr_text.empty() ? "" : ": " + listed.stderr_text) << ")\n";
    }
    return kExitNoNetwork;
  }

  nlohmann::json assets;
  try {
    std::ifstream in(listing);
    assets = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    std::cerr << "cortex-data download: the DANDI file list is not valid JSON: " << e.what() << "\n";
    return kExitFailed;
  }
  fs::remove(listing, ec);
  int fetched = 0;
  for (const auto& asset : assets.value("results", nlohmann::json::array())) {
    const std::string path = asset.value("path", "");
    const std::string id = asset.value("asset_id", "");
    if (id.empty() || path.size() < 4 || path.substr(path.size() - 4) != ".nwb") continue;
    const fs::path target = fs::path(dir) / fs::path(path).filename();
    std::cout << "fetching " << path << " (" << asset.value("size", int64_t{0}) << " bytes) -> " << target.string()
              << "\n" << std::flush;
    const CurlResult got = run_curl(*curl,
                                    {"--silent", "--show-error", "--fail", "--location", "--connect-timeout", "8",
                                     "--max-time", "3600", "--output", target.string(),
                                     std::string(kApi) + "/assets/" + id + "/download/"},
                                    log);
    if (got.exit_code != 0) {
      fs::remove(target, ec);
      std::cerr << "cortex-data download: fetching " << path << " failed (curl exit " << got.exit_code
                << (got.stderr_text.empty() ? "" : ": " + got.stderr_text) << ")\n";
      return is_unreachable(got.exit_code) ? kExitNoNetwork : kExitFailed;
    }
    ++fetched;
  }
  if (fetched == 0) {
    std::cerr << "cortex-data download: dandiset " << dataset->dandiset << " lists no .nwb files\n";
    return kExitFailed;
  }
  std::cout << "fetched " << fetched << " NWB file(s) into " << dir << "; check them with: cortex-data inspect FILE\n";
  return kExitOk;
}

}  // namespace cortex_data
