#include "serve/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>

#include "engine/error.h"

namespace cortex::serve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

// Runs the io_context until the started operation completes; a timeout closes the socket.
void run_op(net::io_context& ioc, beast::error_code& result, const char* what) {
  ioc.restart();
  ioc.run();
  if (result) CORTEX_FAIL("serve client", what, " failed: ", result.message());
}

}  // namespace

struct HttpClient::Impl {
  std::string host;
  uint16_t port;
  std::chrono::milliseconds timeout;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  void connect() {
    stream.emplace(ioc);
    tcp::resolver resolver(ioc);
    const auto endpoints = resolver.resolve(host, std::to_string(port));
    beast::error_code result;
    stream->expires_after(timeout);
    stream->async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) { result = ec; });
    run_op(ioc, result, "connect");
    buffer.clear();
  }
};

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}

HttpClient::~HttpClient() { disconnect(); }

void HttpClient::disconnect() {
  if (impl_->stream) {
    beast::error_code ec;
    impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ec);
    impl_->stream->socket().close(ec);
    impl_->stream.reset();
  }
}

HttpReply HttpClient::request(const std::string& method, const std::string& target, const std::string& body,
                              const std::string& content_type) {
  Impl& m = *impl_;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, m.host);
  req.set(http::field::user_agent, "cortex-client");
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, content_type);
    req.body() = body;
  }
  req.keep_alive(true);
  req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool fresh = !m.stream;
    if (fresh) m.connect();
    beast::error_code result;
    m.stream->expires_after(m.timeout);
    http::async_write(*m.stream, req, [&](beast::error_code ec, size_t) { result = ec; });
    m.ioc.restart();
    m.ioc.run();
    http::response<http::string_body> res;
    if (!result) {
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      m.stream->expires_after(m.timeout);
      http::async_read(*m.stream, m.buffer, parser, [&](beast::error_code ec, size_t) { result = ec; });
      m.ioc.restart();
      m.ioc.run();
      if (!result) res = parser.release();
    }
    if (result) {
      disconnect();
      // A kept-alive connection the server closed meanwhile: retry once on a new one.
      if (!fresh && (result == http::error::end_of_stream || result == net::error::connection_reset ||
                     result == net::error::broken_pipe || result == net::error::eof))
        continue;
      CORTEX_FAIL("serve client", method, " ", target, " failed: ", result.message());
    }
    HttpReply reply;
    reply.status = static_cast<int>(res.result_int());
    reply.body = std::move(res.body());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    reply.keep_alive = res.keep_alive();
    if (!reply.keep_alive) disconnect();
    return reply;
  }
  CORTEX_FAIL("serve client", method, " ", target, " failed twice");
}

struct StreamClient::Impl {
  net::io_context ioc;
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;
  int close_code = 0;
};

StreamClient::StreamClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.timeout = timeout;
  m.ws.emplace(m.ioc);
  tcp::resolver resolver(m.ioc);
  const auto endpoints = resolver.resolve(host, std::to_string(port));
  beast::error_code result;
  beast::get_lowest_layer(*m.ws).expires_after(timeout);
  beast::get_lowest_layer(*m.ws).async_connect(endpoints,
                                               [&](beast::error_code ec, const tcp::endpoint&) { result = ec; });
  run_op(m.ioc, result, "stream connect");
  m.ws->async_handshake(host + ":" + std::to_string(port), "/v1/stream", [&](beast::error_code ec) { result = ec; });
  run_op(m.ioc, result, "WebSocket handshake");
  beast::get_lowest_layer(*m.ws).expires_never();
}

StreamClient::~StreamClient() {
  try {
    close();
  } catch (...) {
  }
}

void StreamClient::send_text(const std::string& message) {
  Impl& m = *impl_;
  beast::error_code result;
  m.ws->text(true);
  m.ws->async_write(net::buffer(message), [&](beast::error_code ec, size_t) { result = ec; });
  run_op(m.ioc, result, "stream send");
}

void StreamClient::send_binary(const std::string& message) {
  Impl& m = *impl_;
  beast::error_code result;
  m.ws->binary(true);
  m.ws->async_write(net::buffer(message), [&](beast::error_code ec, size_t) { result = ec; });
  run_op(m.ioc, result, "stream send");
}

std::string StreamClient::receive() {
  Impl& m = *impl_;
  beast::error_code result;
  bool done = false;
  m.ws->async_read(m.buffer, [&](beast::error_code ec, size_t) {
    result = ec;
    done = true;
  });
  net::steady_timer timer(m.ioc);
  timer.expires_after(m.timeout);
  timer.async_wait([&](beast::error_code ec) {
    if (!ec && !done) beast::get_lowest_layer(*m.ws).socket().cancel();
  });
  m.ioc.restart();
  while (!done && m.ioc.run_one()) {
  }
  timer.cancel();
  m.ioc.run();
  if (result == websocket::error::closed) m.close_code = static_cast<int>(m.ws->reason().code);
  if (result) CORTEX_FAIL("serve client", "stream receive failed: ", result.message());
  std::string out = beast::buffers_to_string(m.buffer.data());
  m.buffer.consume(m.buffer.size());
  return out;
}

void StreamClient::close() {
  Impl& m = *impl_;
  if (!m.ws || !m.ws->is_open()) return;
  beast::error_code result;
  beast::get_lowest_layer(*m.ws).expires_after(m.timeout);
  m.ws->async_close(websocket::close_code::normal, [&](beast::error_code ec) { result = ec; });
  m.ioc.restart();
  m.ioc.run();
}

bool StreamClient::is_open() const { return impl_->ws && impl_->ws->is_open(); }
int StreamClient::close_code() const { return impl_->close_code; }

}  // namespace cortex::serve
