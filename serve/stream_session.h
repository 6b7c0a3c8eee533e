#pragma once
// One WebSocket stream on /v1/stream: every message carries one stride's new events (absolute
// times) and its end; the reply is the velocity decoded from the window ending there. One
// stride is in flight at a time, so a stream's strides run in order. Refusals (bad events, a
// full queue, a full cache) come back as error messages and the stream stays open.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <optional>

#include "serve/job.h"
#include "serve/server_state.h"

namespace cortex::serve {

class StreamSession : public Drainable, public std::enable_shared_from_this<StreamSession> {
 public:
  StreamSession(boost::beast::tcp_stream stream, ServerState& state);
  ~StreamSession() override;
  void start(boost::beast::http::request<boost::beast::http::string_body> upgrade);
  void drain() override;

 private:
  void read_message();
  void on_message(boost::beast::error_code ec);
  void finish_stride(JobResult&& result, Clock::time_point arrival, double end_ms);
  void send(std::string text);
  void on_sent(boost::beast::error_code ec);
  void close(boost::beast::websocket::close_code code, const std::string& reason);
  void refuse(const RequestError& error);

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  ServerState& state_;
  uint64_t registry_id_ = 0;
  uint64_t stream_ = 0;      // id in the streaming cache
  double last_end_ms_ = 0.0;
  bool started_ = false;     // a first stride has been accepted
  bool in_flight_ = false;   // a stride is admitted and not yet answered
  bool draining_ = false;
  bool close_sent_ = false;
  std::optional<boost::beast::websocket::close_reason> close_after_send_;
  uint64_t strides_ = 0;
  std::shared_ptr<std::string> outgoing_;
};

}  // namespace cortex::serve
