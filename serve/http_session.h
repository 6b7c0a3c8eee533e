#pragma once
// One HTTP/1.1 keep-alive connection: reads requests under a size limit and timeouts,
// routes them (/health, /ready, /metrics, /v1/model, POST /v1/decode), hands WebSocket
// upgrades on /v1/stream to a StreamSession, and answers every failure with a JSON error.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>

#include "serve/job.h"
#include "serve/server_state.h"

namespace cortex::serve {

class HttpSession : public Drainable, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, ServerState& state);
  ~HttpSession() override;
  void start();
  void drain() override;

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void read_request();
  void on_read(boost::beast::error_code ec);
  void on_timeout();
  void route();
  void handle_decode(const Request& req);
  void finish_decode(JobResult&& result, Clock::time_point arrival, const std::string& id);
  void send(Response res, const char* endpoint, bool close_after);
  void send_error(const RequestError& error, const char* endpoint, bool close_after, unsigned version = 11);
  void on_written(bool close_after, boost::beast::error_code ec);
  void close();

  boost::beast::tcp_stream stream_;
  // The connection's strand, kept apart from stream_, which moves to a StreamSession on upgrade.
  boost::beast::tcp_stream::executor_type executor_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::asio::steady_timer timer_;
  ServerState& state_;
  uint64_t registry_id_ = 0;
  bool request_started_ = false;  // bytes of the current request have arrived
  bool timed_out_ = false;
  bool busy_ = false;             // a request is being answered
  bool draining_ = false;
  bool keep_alive_ = true;
  bool closed_ = false;
  std::shared_ptr<Response> response_;
};

}  // namespace cortex::serve
