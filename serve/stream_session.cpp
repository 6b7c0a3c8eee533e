#include "serve/stream_session.h"

#include <boost/asio/post.hpp>

#include "serve/log.h"
#include "serve/request_codec.h"

namespace cortex::serve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {
std::chrono::milliseconds ms(double v) { return std::chrono::milliseconds(static_cast<int64_t>(v)); }
}  // namespace

StreamSession::StreamSession(beast::tcp_stream stream, ServerState& state) : ws_(std::move(stream)), state_(state) {
  state_.metrics.set_connections("stream", static_cast<double>(++state_.stream_connections));
}

StreamSession::~StreamSession() {
  if (stream_ && state_.cache) state_.cache->close(stream_);
  state_.sessions.remove(registry_id_);
  state_.metrics.set_connections("stream", static_cast<double>(--state_.stream_connections));
}

void StreamSession::start(http::request<http::string_body> upgrade) {
  registry_id_ = state_.sessions.add(weak_from_this());
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = ms(state_.config.read_timeout_ms);
  timeouts.idle_timeout = ms(state_.config.idle_timeout_ms);
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "cortex-serve"); }));
  ws_.read_message_max(state_.config.max_body_bytes);
  ws_.async_accept(upgrade, [self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    RequestError err;
    if (self->state_.cache) self->stream_ = self->state_.cache->open(err);
    else err = {Rejection::internal, "this server has no streaming cache"};
    if (err) {
      self->state_.count_rejection(err.reason);
      // Refuse with a message, then close once it is out.
      self->close_after_send_ = websocket::close_reason(websocket::close_code::try_again_later, "stream refused");
      self->refuse(err);
      return;
    }
    log(LogLevel::debug, "stream_open", {{"stream", self->stream_}});
    self->read_message();
  });
}

void StreamSession::drain() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    if (!self->in_flight_ && !self->outgoing_) self->close(websocket::close_code::going_away, "server shutting down");
  });
}

void StreamSession::close(websocket::close_code code, const std::string& reason) {
  if (close_sent_ || !ws_.is_open()) return;
  close_sent_ = true;
  ws_.async_close(websocket::close_reason(code, reason), [self = shared_from_this()](beast::error_code) {});
}

void StreamSession::read_message() {
  if (draining_) return close(websocket::close_code::going_away, "server shutting down");
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_message(ec); });
}

void StreamSession::refuse(const RequestError& error) {
  nlohmann::json doc = nlohmann::json::parse(encode_error(error));
  if (error.reason == Rejection::queue_full)
    doc["retry_after_ms"] = 1000.0 * std::max(state_.config.retry_after_s, state_.scheduler->retry_after_s());
  state_.metrics.count_request("stream", rejection_status(error.reason));
  send(doc.dump());
}

void StreamSession::on_message(beast::error_code ec) {
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      // Beast fails the connection itself here; the counter still records why.
      state_.count_rejection(Rejection::body_too_large);
    }
    return;  // closed by the client, a timeout or shutdown: the destructor frees the stream
  }
  const std::string body = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  const Clock::time_point arrival = Clock::now();

  DecodeRequest parsed;
  ParseOptions options;
  options.default_end_ms = state_.model.window_ms;
  options.default_bin_ms = state_.model.stride_ms;
  options.require_end = true;
  RequestError err = ws_.got_text() ? parse_json_request(body, options, parsed)
                                    : parse_binary_request(body, options, parsed);
  const double end = parsed.window.end_ms;
  if (!err && started_ && !(end > last_end_ms_))
    err = {Rejection::out_of_order, "stride end " + std::to_string(end) + " ms does not come after the previous end " +
                                        std::to_string(last_end_ms_) + " ms"};
  if (!err) {
    WindowLimits limits;
    limits.num_units = state_.model.num_units;
    limits.length_ms = state_.model.window_ms;
    limits.max_events = state_.config.max_events;
    limits.allow_empty = true;  // a quiet stride is still a stride
    const double lower = started_ ? std::max(last_end_ms_, end - state_.model.window_ms) : end - state_.model.window_ms;
    err = validate_window(parsed.window, limits, lower);
  }
  if (!err && parsed.deadline_ms && *parsed.deadline_ms <= 0) err = {Rejection::wrong_type, "deadline_ms must be positive"};
  if (!err) {
    auto job = std::make_unique<Job>();
    job->kind = Job::Kind::stride;
    job->stream = stream_;
    job->window = std::move(parsed.window);
    job->arrival = arrival;
    const double budget = parsed.deadline_ms.value_or(state_.config.default_deadline_ms);
    job->deadline =
        arrival + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(budget));
    job->done = [self = shared_from_this(), arrival, end](JobResult&& r) {
      net::post(self->ws_.get_executor(),
                [self, arrival, end, r = std::move(r)]() mutable { self->finish_stride(std::move(r), arrival, end); });
    };
    in_flight_ = true;
    err = state_.scheduler->submit(job);
    if (!err) {
      state_.metrics.count_admitted("stream");
      return;  // the reply goes out from finish_stride
    }
    in_flight_ = false;
  }
  state_.count_rejection(err.reason);
  refuse(err);
}

void StreamSession::finish_stride(JobResult&& r, Clock::time_point arrival, double end_ms) {
  in_flight_ = false;
  r.timings.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - arrival).count();
  // A stride that never reached the cache (expired, or refused while draining) leaves the
  // stream where it was; the client may send those events again with its next stride.
  const bool applied = !r.error || (r.error.reason != Rejection::deadline_expired && r.error.reason != Rejection::draining);
  if (applied) {
    last_end_ms_ = end_ms;
    started_ = true;
  }
  if (r.error) {
    state_.count_rejection(r.error.reason);
    nlohmann::json doc = nlohmann::json::parse(encode_error(r.error));
    doc["end_ms"] = end_ms;
    state_.metrics.count_request("stream", rejection_status(r.error.reason));
    return send(doc.dump());
  }
  ++strides_;
  state_.metrics.count_request("stream", 200);
  state_.metrics.observe_latency("stream", r.timings.total_ms / 1e3);
  r.extra["end_ms"] = end_ms;
  r.extra["seq"] = strides_;
  send(encode_result(r.velocity, state_.model.name, state_.model.version, r.timings, r.batch_size, "", r.extra));
}

void StreamSession::send(std::string text) {
  if (!ws_.is_open()) return;
  outgoing_ = std::make_shared<std::string>(std::move(text));
  ws_.text(true);
  ws_.async_write(net::buffer(*outgoing_), [self = shared_from_this()](beast::error_code ec, size_t) { self->on_sent(ec); });
}

void StreamSession::on_sent(beast::error_code ec) {
  outgoing_.reset();
  if (ec) return;
  if (close_after_send_) return close(static_cast<websocket::close_code>(close_after_send_->code),
                                        std::string(close_after_send_->reason.data(), close_after_send_->reason.size()));
  read_message();
}

}  // namespace cortex::serve
