#pragma once
// The inference server: binds, loads and warms the model up (while /health already answers
// and /ready says 503), accepts HTTP and WebSocket connections, runs the scheduler, and on
// SIGTERM/SIGINT drains: stops accepting, reports not-ready, finishes every admitted request,
// closes WebSockets with a close frame and returns 0.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "serve/batch_executor.h"
#include "serve/server_state.h"

namespace cortex::serve {

class Server {
 public:
  using LoadDecoder = std::function<std::unique_ptr<Decoder>()>;

  Server(const ServerConfig& config, LoadDecoder load);
  ~Server();

  // Binds the listening socket and returns the bound port (config.port 0 picks a free one).
  uint16_t bind();
  // Serves until a signal or shutdown(), then drains. Returns the process exit code.
  int run();
  // Starts the drain from any thread.
  void shutdown();

  ServerState& state() { return *state_; }

 private:
  void accept();
  void load_and_warm_up();
  void begin_drain(const char* why);
  void watch_drain();

  LoadDecoder load_;
  std::unique_ptr<ServerState> state_;
  boost::asio::io_context ioc_;
  // The acceptor, signals, drain timer and drain steps run on this strand: with several I/O
  // threads, a drain closing the acceptor must not race the next async_accept.
  boost::asio::strand<boost::asio::io_context::executor_type> control_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer drain_timer_;
  Clock::time_point drain_deadline_{};
  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<StreamCache> cache_;
  std::unique_ptr<BatchExecutor> executor_;
  std::unique_ptr<Scheduler> scheduler_;
  std::thread loader_;
  std::vector<int> worker_cpus_;  // the scheduler workers' CPUs (empty: not pinned), set by run()
  std::atomic<bool> load_failed_{false};
  uint16_t port_ = 0;
};

}  // namespace cortex::serve
