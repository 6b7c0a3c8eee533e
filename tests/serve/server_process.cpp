#include "tests/serve/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/error.h"
#include "serve/client.h"

namespace cortex::serve::test {

namespace {
std::string binary_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  CORTEX_CHECK(n > 0, "ServerProcess", "cannot read /proc/self/exe");
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/')) + "/cortex-serve";
}
}  // namespace

ServerProcess::ServerProcess(const std::vector<std::string>& args) {
  const std::string binary = binary_path();
  CORTEX_CHECK(access(binary.c_str(), X_OK) == 0, "ServerProcess", "the server binary ", binary,
               " is missing; build the cortex-serve target");
  static int counter = 0;
  log_path_ = "/tmp/cortex-serve-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".log";
  int out[2];
  CORTEX_CHECK(pipe(out) == 0, "ServerProcess", "pipe failed");
  std::vector<std::string> argv_s = {binary, "--host", "127.0.0.1", "--port", "0"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  pid_ = fork();
  CORTEX_CHECK(pid_ >= 0, "ServerProcess", "fork failed");
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    const int err = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) dup2(err, STDERR_FILENO);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  // The first stdout line names the bound port.
  std::string line;
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < limit) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      char c[256];
      const ssize_t n = read(out[0], c, sizeof(c));
      if (n <= 0) break;
      line.append(c, static_cast<size_t>(n));
    }
  }
  close(out[0]);
  const size_t colon = line.rfind(':');
  CORTEX_CHECK(colon != std::string::npos, "ServerProcess", "the server printed no port; its log:\n", log());
  port_ = static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::remove(log_path_.c_str());
}

bool ServerProcess::wait_ready(std::chrono::milliseconds limit) const {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    try {
      HttpClient c("127.0.0.1", port_, std::chrono::seconds(2));
      if (c.get("/ready").status == 200) return true;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void ServerProcess::signal(int sig) const { kill(pid_, sig); }

int ServerProcess::wait_exit(std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string ServerProcess::log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RawConnection::RawConnection(uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CORTEX_CHECK(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "RawConnection",
               "connect failed: ", std::strerror(errno));
}

RawConnection::~RawConnection() { close(); }

void RawConnection::send(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close a connection it refuses
    done += static_cast<size_t>(n);
  }
}

std::string RawConnection::read_all(std::chrono::milliseconds limit) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string tiny_cortex_config_path() {
  const std::string path = "/tmp/cortex-serve-test-tiny-" + std::to_string(getpid()) + ".yaml";
  std::ofstream f(path);
  f << "model: cortex\nname: cortex-test\ndim: 32\ndepth: 1\nheads: 2\nlatents: 8\nffn_mult: 2\n"
       "unit_vocab: 64\nmax_count: 4\ntime_bin_embedding: false\ndropout: 0.0\nwindow_ms: 600\nbin_ms: 10\n";
  return path;
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

}  // namespace cortex::serve::test
