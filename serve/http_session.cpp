#include "serve/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "serve/log.h"
#include "serve/request_codec.h"
#include "serve/stream_session.h"

namespace cortex::serve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

std::chrono::milliseconds ms(double v) { return std::chrono::milliseconds(static_cast<int64_t>(v)); }

std::string path_of(beast::string_view target) {
  std::string t(target);
  if (const size_t q = t.find('?'); q != std::string::npos) t.resize(q);
  return t;
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, ServerState& state)
    : stream_(std::move(socket)), executor_(stream_.get_executor()), timer_(executor_), state_(state) {
  state_.metrics.set_connections("http", static_cast<double>(++state_.http_connections));
}

HttpSession::~HttpSession() {
  state_.sessions.remove(registry_id_);
  state_.metrics.set_connections("http", static_cast<double>(--state_.http_connections));
}

void HttpSession::start() {
  registry_id_ = state_.sessions.add(weak_from_this());
  net::dispatch(executor_, [self = shared_from_this()] { self->read_request(); });
}

void HttpSession::drain() {
  net::post(executor_, [self = shared_from_this()] {
    self->draining_ = true;
    // Idle between requests: nothing admitted is pending, so the connection can go now.
    if (!self->busy_ && !self->request_started_) self->close();
  });
}

void HttpSession::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

void HttpSession::read_request() {
  if (closed_) return;
  if (draining_) return close();
  parser_.emplace();
  parser_->body_limit(state_.config.max_body_bytes);
  parser_->header_limit(16 * 1024);
  request_started_ = buffer_.size() > 0;
  timed_out_ = false;
  // Our own timer rather than the stream's expiry, so a stalled client still gets a 408.
  timer_.expires_after(ms(request_started_ ? state_.config.read_timeout_ms : state_.config.idle_timeout_ms));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->on_timeout();
  });
  stream_.expires_never();
  http::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->on_read(ec);
  });
}

void HttpSession::on_timeout() {
  if (busy_ || closed_) return;  // the request completed just before the timer fired
  timed_out_ = true;
  beast::error_code ec;
  stream_.socket().cancel(ec);
}

void HttpSession::on_read(beast::error_code ec) {
  if (closed_) return;
  // The timer can fire after a read has completed but before this handler runs; its cancel then
  // aborts nothing. A read that succeeded on an idle connection (a request's first bytes) or
  // that finished the request is served, not answered with a 408 it did not earn.
  if (timed_out_ && !ec && (!request_started_ || parser_->is_done())) timed_out_ = false;
  if (timed_out_) {
    // Nothing of a request arrived: an idle keep-alive connection, closed quietly.
    if (!request_started_ && buffer_.size() == 0 && !parser_->got_some()) return close();
    state_.count_rejection(Rejection::client_timeout);
    return send_error({Rejection::client_timeout, "the request did not arrive completely within " +
                                                      std::to_string(state_.config.read_timeout_ms) + " ms"},
                      "other", true);
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit) {
    state_.count_rejection(Rejection::body_too_large);
    return send_error({Rejection::body_too_large, "the request is larger than the limit of " +
                                                      std::to_string(state_.config.max_body_bytes) + " bytes"},
                      "other", true);
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::operation_aborted || ec == net::error::broken_pipe) {
    return close();  // the client went away
  }
  if (ec) {
    state_.count_rejection(Rejection::malformed);
    return send_error({Rejection::malformed, std::string("malformed HTTP request: ") + ec.message()}, "other", true);
  }
  if (!request_started_) {
    request_started_ = true;
    timer_.expires_after(ms(state_.config.read_timeout_ms));
    timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->on_timeout();
    });
  }
  if (!parser_->is_done()) {
    http::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code e, size_t) {
      self->on_read(e);
    });
    return;
  }
  timer_.cancel();
  route();
}

void HttpSession::route() {
  busy_ = true;
  const Request& req = parser_->get();
  keep_alive_ = req.keep_alive();
  const std::string path = path_of(req.target());
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;

  auto reply = [&](http::status status, std::string body, const char* type, const char* endpoint) {
    Response res{status, req.version()};
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
    send(std::move(res), endpoint, false);
  };
  auto wrong_method = [&](const char* endpoint, const char* allowed) {
    state_.count_rejection(Rejection::bad_method);
    send_error({Rejection::bad_method, path + " accepts " + allowed + " only"}, endpoint, false, req.version());
  };

  if (path == "/health") {
    if (!get) return wrong_method("health", "GET");
    return reply(http::status::ok, R"({"status":"alive"})", "application/json", "health");
  }
  if (path == "/ready") {
    if (!get) return wrong_method("ready", "GET");
    if (state_.ready && !state_.draining)
      return reply(http::status::ok, R"({"status":"ready"})", "application/json", "ready");
    const char* why = state_.draining ? R"({"status":"draining"})" : R"({"status":"loading"})";
    return reply(http::status::service_unavailable, why, "application/json", "ready");
  }
  if (path == "/metrics") {
    if (!get) return wrong_method("metrics", "GET");
    return reply(http::status::ok, state_.metrics.render(), "text/plain; version=0.0.4; charset=utf-8", "metrics");
  }
  // Everything below needs the model, which is loaded after the port opens.
  const bool model_path = path == "/v1/model" || path == "/v1/decode" || path == "/v1/stream";
  if (model_path && !state_.ready) {
    state_.count_rejection(Rejection::not_ready);
    return send_error({Rejection::not_ready, "the model is still loading; poll /ready"}, "other", false,
                      req.version());
  }
  if (path == "/v1/model") {
    if (!get) return wrong_method("model", "GET");
    const ModelInfo& m = state_.model;
    nlohmann::json doc = {{"name", m.name},           {"version", m.version},       {"config", m.config},
                          {"parameters", m.parameters}, {"dtype", m.dtype},         {"device", m.device.str()},
                          {"num_units", m.num_units},   {"output_dim", m.output_dim}, {"window_ms", m.window_ms},
                          {"stride_ms", m.stride_ms}};
    return reply(http::status::ok, doc.dump(), "application/json", "model");
  }
  if (path == "/v1/decode") {
    if (req.method() != http::verb::post) return wrong_method("decode", "POST");
    return handle_decode(req);
  }
  if (path == "/v1/stream") {
    if (!beast::websocket::is_upgrade(req)) {
      state_.count_rejection(Rejection::bad_method);
      return send_error({Rejection::bad_method, "/v1/stream is a WebSocket endpoint; send an Upgrade request"},
                        "stream", false, req.version());
    }
    if (state_.draining) {
      state_.count_rejection(Rejection::draining);
      return send_error({Rejection::draining, "the server is shutting down"}, "stream", true, req.version());
    }
    timer_.cancel();
    closed_ = true;  // the socket now belongs to the stream session
    std::make_shared<StreamSession>(std::move(stream_), state_)->start(parser_->release());
    return;
  }
  state_.count_rejection(Rejection::not_found);
  send_error({Rejection::not_found, "no endpoint " + path + " (try /v1/decode, /v1/stream, /health, /ready, "
                                    "/metrics, /v1/model)"},
             "other", false, req.version());
}

void HttpSession::handle_decode(const Request& req) {
  const Clock::time_point arrival = Clock::now();
  DecodeRequest parsed;
  ParseOptions options;
  options.default_end_ms = state_.model.window_ms;
  options.default_bin_ms = state_.model.stride_ms;
  const auto type = req[http::field::content_type];
  const bool binary = type.starts_with("application/octet-stream");
  RequestError err = binary ? parse_binary_request(req.body(), options, parsed)
                            : parse_json_request(req.body(), options, parsed);
  if (!err) {
    WindowLimits limits;
    limits.num_units = state_.model.num_units;
    limits.length_ms = state_.model.window_ms;
    limits.max_events = state_.config.max_events;
    err = validate_window(parsed.window, limits);
  }
  if (!err && parsed.deadline_ms && *parsed.deadline_ms <= 0)
    err = {Rejection::wrong_type, "deadline_ms must be positive"};
  if (err) {
    state_.count_rejection(err.reason);
    return send_error(err, "decode", false, req.version());
  }
  auto job = std::make_unique<Job>();
  job->kind = Job::Kind::window;
  job->window = std::move(parsed.window);
  job->arrival = arrival;
  const double budget = parsed.deadline_ms.value_or(state_.config.default_deadline_ms);
  job->deadline = arrival + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(budget));
  job->done = [self = shared_from_this(), arrival, id = parsed.id](JobResult&& r) {
    net::post(self->executor_, [self, arrival, id, r = std::move(r)]() mutable {
      self->finish_decode(std::move(r), arrival, id);
    });
  };
  err = state_.scheduler->submit(job);
  if (!err) state_.metrics.count_admitted("decode");
  if (err) {
    state_.count_rejection(err.reason);
    Response res{http::status::too_many_requests, req.version()};
    if (err.reason == Rejection::queue_full) {
      const double wait = std::max(state_.config.retry_after_s, state_.scheduler->retry_after_s());
      res.set(http::field::retry_after, std::to_string(static_cast<int64_t>(std::ceil(wait))));
    } else {
      res.result(rejection_status(err.reason));
    }
    res.set(http::field::content_type, "application/json");
    res.body() = encode_error(err);
    return send(std::move(res), "decode", err.reason == Rejection::draining);
  }
}

void HttpSession::finish_decode(JobResult&& r, Clock::time_point arrival, const std::string& id) {
  r.timings.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - arrival).count();
  if (r.error) {
    state_.count_rejection(r.error.reason);
    return send_error(r.error, "decode", false);
  }
  state_.metrics.observe_latency("decode", r.timings.total_ms / 1e3);
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = encode_result(r.velocity, state_.model.name, state_.model.version, r.timings, r.batch_size, id);
  send(std::move(res), "decode", false);
}

void HttpSession::send_error(const RequestError& error, const char* endpoint, bool close_after, unsigned version) {
  Response res{static_cast<http::status>(rejection_status(error.reason)), version};
  res.set(http::field::content_type, "application/json");
  res.body() = encode_error(error);
  send(std::move(res), endpoint, close_after);
}

void HttpSession::send(Response res, const char* endpoint, bool close_after) {
  state_.metrics.count_request(endpoint, static_cast<int>(res.result_int()));
  if (closed_) return;  // the client left; the request was still answered and counted
  close_after = close_after || !keep_alive_ || draining_;
  res.set(http::field::server, "cortex-serve");
  res.keep_alive(!close_after);
  res.prepare_payload();
  response_ = std::make_shared<Response>(std::move(res));
  stream_.expires_after(ms(state_.config.read_timeout_ms));  // a client that stops reading is cut off
  http::async_write(stream_, *response_, [self = shared_from_this(), close_after](beast::error_code ec, size_t) {
    self->on_written(close_after, ec);
  });
}

void HttpSession::on_written(bool close_after, beast::error_code ec) {
  response_.reset();
  busy_ = false;
  if (ec) {
    log(LogLevel::debug, "client_gone", {{"error", ec.message()}});
    return close();
  }
  if (close_after) return close();
  read_request();
}

}  // namespace cortex::serve
