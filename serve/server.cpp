#include "serve/server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <cstdio>

#include "engine/factory.h"
#include "engine/philox.h"
#include "serve/http_session.h"
#include "serve/log.h"
#include "serve/thread_setup.h"

namespace cortex::serve {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Server::Server(const ServerConfig& config, LoadDecoder load)
    : load_(std::move(load)),
      state_(std::make_unique<ServerState>()),
      control_(net::make_strand(ioc_)),
      acceptor_(control_),
      signals_(control_, SIGTERM, SIGINT),
      drain_timer_(control_) {
  state_->config = config;
  set_log_level(config.log_level);
}

Server::~Server() {
  if (loader_.joinable()) loader_.join();
  if (scheduler_) scheduler_->drain();
}

uint16_t Server::bind() {
  if (acceptor_.is_open()) return port_;
  const ServerConfig& c = state_->config;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(c.host, ec);
  CORTEX_CHECK(!ec, "cortex-serve", "cannot parse host '", c.host, "': ", ec.message());
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(c.port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  CORTEX_CHECK(!ec, "cortex-serve", "cannot listen on ", c.host, ":", c.port, ": ", ec.message());
  port_ = acceptor_.local_endpoint().port();
  return port_;
}

void Server::accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
      log(LogLevel::warn, "accept_failed", {{"error", ec.message()}});
    } else {
      std::make_shared<HttpSession>(std::move(socket), *state_)->start();
    }
    accept();
  });
}

void Server::load_and_warm_up() {
  try {
    const Clock::time_point start = Clock::now();
    decoder_ = load_();
    state_->model = decoder_->info();
    const ServerConfig& c = state_->config;
    cache_ = std::make_unique<StreamCache>(*decoder_, c.cache_pages, c.cache_page_size, c.max_streams);
    executor_ = std::make_unique<BatchExecutor>(*decoder_, cache_.get(), &state_->metrics);
    BatchPolicy policy;
    policy.max_batch = c.batching ? c.max_batch : 1;
    policy.batching = c.batching;
    policy.max_wait = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(c.max_batch_wait_ms));
    scheduler_ = std::make_unique<Scheduler>(
        policy, static_cast<size_t>(c.queue_capacity),
        [this](std::vector<std::unique_ptr<Job>>& batch) { executor_->run(batch); }, &state_->metrics, c.workers,
        worker_cpus_);
    scheduler_->start();
    state_->metrics.set_device_memory("parameters", static_cast<double>(decoder_->parameter_bytes()));
    state_->metrics.set_cache(0, c.cache_pages, 0, 0, 0);
    const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
    if (c.warmup) {
      // Every power-of-two batch size up to the maximum runs once on a synthetic window, which
      // also teaches the scheduler how long batches take.
      Window w;
      w.end_ms = state_->model.window_ms;
      for (int i = 0; i < 64; ++i) {
        w.units.push_back(static_cast<int32_t>(philox::word(99, 0, i) % static_cast<uint32_t>(state_->model.num_units)));
        w.times_ms.push_back(w.end_ms - state_->model.window_ms * (64 - i) / 65.0);
        w.counts.push_back(1);
      }
      // CUDA graphs of every batch bucket for windows of up to 1024 events first (larger ones
      // are captured when they come), so the timings below are of replays.
      decoder_->warm_up(std::min<int64_t>(1024, c.max_events));
      // Larger sizes are skipped once a batch takes over a second (a big model on a small CPU);
      // the estimator extrapolates to them.
      for (int b = 1, rep = 0; b <= policy.max_batch; b *= (rep++ == 0 ? 1 : 2)) {
        const std::vector<const Window*> windows(b, &w);
        const Clock::time_point t0 = Clock::now();
        decoder_->decode(windows);
        const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        if (rep > 0) scheduler_->observe_compute(b, seconds);  // the first run pays one-time costs
        if (seconds > 1.0) break;
      }
      // The streaming path once: encode a window's events and decode from the rows.
      CachedWindow cached;
      cached.rows = decoder_->encode_events(w);
      cached.times_ms = w.times_ms;
      cached.end_ms = w.end_ms;
      decoder_->decode_cached({&cached});
    }
    state_->scheduler = scheduler_.get();
    state_->cache = cache_.get();
    state_->ready.store(true);
    // A drain that began while loading could not stop admission yet (seq_cst: either it saw
    // ready, or this sees draining).
    if (state_->draining) scheduler_->stop_admitting();
    state_->metrics.set_ready(!state_->draining);
    log(LogLevel::info, "ready",
        {{"model", state_->model.name}, {"version", state_->model.version}, {"parameters", state_->model.parameters},
         {"device", state_->model.device.str()}, {"workers", scheduler_->workers()},
         {"io_threads", c.io_threads}, {"load_s", load_s},
         {"warmup_s", std::chrono::duration<double>(Clock::now() - start).count() - load_s}});
  } catch (const std::exception& e) {
    log(LogLevel::error, "load_failed", {{"error", e.what()}});
    load_failed_ = true;
    net::post(control_, [this] { begin_drain("model failed to load"); });
  }
}

void Server::shutdown() {
  net::post(control_, [this] { begin_drain("shutdown requested"); });
}

void Server::begin_drain(const char* why) {
  if (state_->draining.exchange(true)) return;
  log(LogLevel::info, "draining", {{"reason", why}, {"sessions", state_->sessions.size()}});
  state_->metrics.set_ready(false);
  boost::system::error_code ec;
  acceptor_.close(ec);
  signals_.cancel(ec);
  if (state_->ready) state_->scheduler->stop_admitting();
  state_->sessions.drain_all();
  drain_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double, std::milli>(state_->config.drain_timeout_ms));
  watch_drain();
}

void Server::watch_drain() {
  const size_t outstanding = state_->ready ? state_->scheduler->outstanding() : 0;
  const size_t sessions = state_->sessions.size();
  if (outstanding == 0 && sessions == 0) {
    ioc_.stop();
    return;
  }
  if (Clock::now() >= drain_deadline_) {
    log(LogLevel::warn, "drain_timeout", {{"outstanding", outstanding}, {"sessions", sessions}});
    ioc_.stop();
    return;
  }
  state_->sessions.drain_all();  // sessions that finished a request since the last pass
  drain_timer_.expires_after(std::chrono::milliseconds(10));
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) watch_drain();
  });
}

int Server::run() {
  const uint16_t port = bind();
  std::printf("cortex-serve listening on %s:%u\n", state_->config.host.c_str(), static_cast<unsigned>(port));
  std::fflush(stdout);
  log(LogLevel::info, "listening", {{"host", state_->config.host}, {"port", port}, {"config", state_->config.to_json()}});
  signals_.async_wait([this](boost::system::error_code ec, int signal) {
    if (!ec) begin_drain(signal == SIGTERM ? "SIGTERM" : "SIGINT");
  });
  accept();
  // Threads inherit their creator's CPUs: the loader and the I/O threads start from here, and the
  // workers (started by the loader) move to worker_cpus, or back to all of the process's CPUs.
  worker_cpus_ = parse_cpu_list("worker_cpus", state_->config.worker_cpus);
  if (worker_cpus_.empty() && !state_->config.io_cpus.empty()) worker_cpus_ = this_thread_cpus();
  pin_this_thread(parse_cpu_list("io_cpus", state_->config.io_cpus));
  loader_ = std::thread([this] {
    name_this_thread("cortex-load");
    load_and_warm_up();
  });
  std::vector<std::thread> io;
  for (int i = 1; i < state_->config.io_threads; ++i)
    io.emplace_back([this, i] {
      name_this_thread("cortex-io" + std::to_string(i));
      ioc_.run();
    });
  ioc_.run();  // the main thread (named cortex-serve, as the process) is an I/O thread too
  for (auto& t : io) t.join();
  if (loader_.joinable()) loader_.join();
  if (scheduler_) scheduler_->drain();
  log(LogLevel::info, "stopped", {{"load_failed", load_failed_.load()}});
  return load_failed_ ? 1 : 0;
}

}  // namespace cortex::serve
