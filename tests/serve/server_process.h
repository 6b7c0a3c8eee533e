#pragma once
// Starts the real cortex-serve binary (next to the test binary) on a free loopback port and
// talks to it with raw sockets where a well-behaved client would not do.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace cortex::serve::test {

class ServerProcess {
 public:
  // `args` come after the binary; --port 0 and --host 127.0.0.1 are added.
  explicit ServerProcess(const std::vector<std::string>& args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Polls GET /ready until 200; false after `limit`.
  bool wait_ready(std::chrono::milliseconds limit = std::chrono::seconds(30)) const;
  void signal(int sig) const;
  // The exit status once the process ends (-1 after `limit`, -2 when killed by a signal).
  int wait_exit(std::chrono::milliseconds limit);
  // Everything the server logged on stderr so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string log_path_;
  bool exited_ = false;
};

// A raw TCP connection to 127.0.0.1:port.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);
  ~RawConnection();
  void send(const std::string& bytes);
  // Reads until the peer closes or `limit` passes; returns what arrived.
  std::string read_all(std::chrono::milliseconds limit);
  void close();

 private:
  int fd_ = -1;
};

// A Cortex config small enough for fast tests, written to a temporary YAML file.
std::string tiny_cortex_config_path();

// Status code of an HTTP response text ("HTTP/1.1 408 ..."), 0 if none.
int status_of(const std::string& response);

}  // namespace cortex::serve::test
