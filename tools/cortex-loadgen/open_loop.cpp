// Open-loop Poisson load on a few event-loop threads. The whole arrival schedule is drawn up
// front from the seed and dealt round-robin to `threads` shards; each shard owns an
// io_context, its share of the connections and a timer that fires at its next due time. A
// due request goes out on a free connection at once (the one idle longest), or waits (its
// latency still counting from the due time) until one frees. A thread per connection, as the closed-loop runner
// uses, would put hundreds of threads' wake-ups between a due time and its send on a busy
// host; here the send lag (due to socket) is one timer wake-up.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "runners.h"
#include "serve/request_codec.h"

namespace loadgen {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::chrono::seconds kRequestTimeout{30};

class Shard {
 public:
  Shard(const RunOptions& o, Recorder& recorder, std::vector<Clock::time_point> schedule, int connections,
        uint64_t seed, Clock::time_point give_up)
      : o_(o), recorder_(recorder), schedule_(std::move(schedule)), give_up_(give_up), timer_(ioc_),
        workload_(o.shape, seed) {
    endpoints_ = tcp::resolver(ioc_).resolve(o.host, std::to_string(o.port));
    for (int i = 0; i < connections; ++i) {
      conns_.push_back(std::make_unique<Conn>(ioc_));
      free_.push_back(conns_.back().get());
    }
  }

  // Runs the shard's schedule to the end; an exception from a handler (an encoding failure,
  // memory) is kept for the caller instead of ending the process from this thread.
  void run() {
    try {
      arm_timer();
      ioc_.run();
    } catch (...) {
      failure_ = std::current_exception();
    }
  }
  std::exception_ptr failure() const { return failure_; }

 private:
  struct Conn {
    explicit Conn(net::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    bool connected = false;
    bool reused = false;   // the current request went out on a connection an earlier one used
    bool retried = false;  // the current request already went out again after a stale connection
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    std::optional<http::response_parser<http::string_body>> parser;
    Clock::time_point due, sent;
  };

  void arm_timer() {
    if (next_ >= schedule_.size()) return;
    timer_.expires_at(schedule_[next_]);
    timer_.async_wait([this](beast::error_code) {
      const Clock::time_point now = Clock::now();
      while (next_ < schedule_.size() && schedule_[next_] <= now) dispatch(schedule_[next_++]);
      arm_timer();
    });
  }

  void dispatch(Clock::time_point due) {
    recorder_.record_sent(due);
    if (free_.empty()) {
      waiting_.push_back(due);
      return;
    }
    Conn* c = free_.front();
    free_.pop_front();
    start(c, due);
  }

  // Sends the request due at `due` on `c` (connecting first where needed).
  void start(Conn* c, Clock::time_point due) {
    c->due = due;
    c->retried = false;
    connect_and_send(c);
  }

  void connect_and_send(Conn* c) {
    c->reused = c->connected;
    if (!c->connected) {
      c->stream.expires_after(kRequestTimeout);
      c->stream.async_connect(endpoints_, [this, c](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return finish(c, 0);
        c->connected = true;
        c->buffer.clear();
        send(c);
      });
      return;
    }
    send(c);
  }

  void send(Conn* c) {
    const cortex::serve::Window w = workload_.window();
    http::request<http::string_body>& req = c->request;
    req = {http::verb::post, "/v1/decode", 11};
    req.set(http::field::host, o_.host);
    req.set(http::field::user_agent, "cortex-loadgen");
    req.set(http::field::content_type, o_.binary ? "application/octet-stream" : "application/json");
    req.body() = o_.binary ? cortex::serve::encode_binary_request(w, o_.shape.window_ms, o_.deadline_ms)
                           : cortex::serve::encode_json_request(w, o_.deadline_ms, false);
    req.keep_alive(true);
    req.prepare_payload();
    c->parser.reset();  // none until the write went out: a failed write has received nothing
    c->sent = Clock::now();
    c->stream.expires_after(kRequestTimeout);
    http::async_write(c->stream, req, [this, c](beast::error_code ec, size_t) {
      if (ec) return failed(c, ec);
      c->parser.emplace();
      c->parser->body_limit(64 * 1024 * 1024);
      c->stream.expires_after(kRequestTimeout);
      http::async_read(c->stream, c->buffer, *c->parser, [this, c](beast::error_code ec2, size_t) {
        if (ec2) return failed(c, ec2);
        const http::response<http::string_body>& res = c->parser->get();
        if (!res.keep_alive()) close(c);
        finish(c, static_cast<int>(res.result_int()));
      });
    });
  }

  // A kept-alive connection the server closed while it sat idle fails at once: the request
  // goes out once more on a new connection, as HttpClient does. Any other failure counts.
  void failed(Conn* c, beast::error_code ec) {
    const bool stale = ec == http::error::end_of_stream || ec == net::error::eof ||
                       ec == net::error::connection_reset || ec == net::error::broken_pipe;
    if (stale && c->reused && !c->retried && !(c->parser && c->parser->got_some())) {
      close(c);
      c->retried = true;
      return connect_and_send(c);
    }
    finish(c, 0);
  }

  // Records the outcome; a failed connection is closed and reconnects for its next request.
  void finish(Conn* c, int status) {
    recorder_.record(c->due, c->sent, Clock::now(), status);
    if (status == 0) close(c);
    release(c);
  }

  // Gives `c` the oldest waiting request still worth sending (those past the give-up time are
  // counted as never sent), or back to the free connections.
  void release(Conn* c) {
    while (!waiting_.empty()) {
      const Clock::time_point due = waiting_.front();
      waiting_.pop_front();
      if (Clock::now() <= give_up_) return start(c, due);
      recorder_.record(due, Clock::now(), -1);  // the client fell too far behind: never sent
    }
    free_.push_back(c);
  }

  void close(Conn* c) {
    beast::error_code ignored;
    c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c->stream.socket().close(ignored);
    c->connected = false;
  }

  const RunOptions& o_;
  Recorder& recorder_;
  std::vector<Clock::time_point> schedule_;
  size_t next_ = 0;
  Clock::time_point give_up_;
  net::io_context ioc_;
  net::steady_timer timer_;
  tcp::resolver::results_type endpoints_;
  Workload workload_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::deque<Conn*> free_;  // idle longest first, so no connection idles past the server's timeout
  std::deque<Clock::time_point> waiting_;
  std::exception_ptr failure_;
};

}  // namespace

int open_loop_threads(const RunOptions& o) {
  if (o.threads > 0) return std::min(o.threads, o.connections);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(cores / 4, 1, std::min(4, o.connections));
}

void run_open_loop(const RunOptions& o, Recorder& recorder, Clock::time_point start) {
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Clock::time_point end = start + seconds(o.warmup_s + o.duration_s);
  const int shards = open_loop_threads(o);
  std::vector<std::vector<Clock::time_point>> schedules(static_cast<size_t>(shards));
  std::mt19937_64 rng(o.seed);
  std::exponential_distribution<double> gap(o.rate);
  size_t i = 0;
  for (Clock::time_point t = start + seconds(gap(rng)); t < end; t += seconds(gap(rng)))
    schedules[i++ % static_cast<size_t>(shards)].push_back(t);

  std::vector<std::unique_ptr<Shard>> parts;
  for (int s = 0; s < shards; ++s) {
    const int connections = o.connections / shards + (s < o.connections % shards ? 1 : 0);
    parts.push_back(std::make_unique<Shard>(o, recorder, std::move(schedules[static_cast<size_t>(s)]), connections,
                                            o.seed * 1000 + static_cast<uint64_t>(s), end + seconds(o.drain_s)));
  }
  std::vector<std::thread> threads;
  for (auto& part : parts) threads.emplace_back([&part] { part->run(); });
  for (auto& t : threads) t.join();
  for (auto& part : parts)
    if (part->failure()) std::rethrow_exception(part->failure());
}

}  // namespace loadgen
