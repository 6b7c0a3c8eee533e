#include "runners.h"

#include <thread>

#include "engine/error.h"
#include "serve/client.h"
#include "serve/request_codec.h"

namespace loadgen {

using cortex::serve::HttpClient;
using cortex::serve::StreamClient;

namespace {

Clock::duration seconds(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

// One decode request on `client`; returns the HTTP status, 0 on a network failure. `sent`
// becomes the time the encoded request was handed to the connection.
int decode_once(HttpClient& client, Workload& workload, const RunOptions& o, Clock::time_point& sent) {
  const cortex::serve::Window w = workload.window();
  try {
    if (o.binary) {
      std::string body = cortex::serve::encode_binary_request(w, o.shape.window_ms, o.deadline_ms);
      sent = Clock::now();
      return client.post("/v1/decode", body, "application/octet-stream").status;
    }
    std::string body = cortex::serve::encode_json_request(w, o.deadline_ms, false);
    sent = Clock::now();
    return client.post("/v1/decode", body).status;
  } catch (const cortex::Error&) {
    client.disconnect();
    return 0;
  }
}

}  // namespace

void run_closed_loop(const RunOptions& o, Recorder& recorder, Clock::time_point start) {
  const Clock::time_point end = start + seconds(o.warmup_s + o.duration_s);
  std::vector<std::thread> workers;
  for (int i = 0; i < o.concurrency; ++i) {
    workers.emplace_back([&, i] {
      HttpClient client(o.host, o.port, std::chrono::seconds(60));
      Workload workload(o.shape, o.seed * 1000 + static_cast<uint64_t>(i));
      for (Clock::time_point t = Clock::now(); t < end; t = Clock::now()) {
        recorder.record_sent(t);
        Clock::time_point sent = t;
        const int status = decode_once(client, workload, o, sent);
        recorder.record(t, sent, Clock::now(), status);
      }
    });
  }
  for (auto& w : workers) w.join();
}

void run_streams(const RunOptions& o, Recorder& recorder, Clock::time_point start) {
  const Clock::time_point end = start + seconds(o.warmup_s + o.duration_s);
  std::vector<std::thread> workers;
  for (int i = 0; i < o.streams; ++i) {
    workers.emplace_back([&, i] {
      Workload workload(o.shape, o.seed * 1000 + static_cast<uint64_t>(i));
      std::unique_ptr<StreamClient> stream;
      try {
        stream = std::make_unique<StreamClient>(o.host, o.port, std::chrono::seconds(60));
      } catch (const cortex::Error&) {
        recorder.record(Clock::now(), Clock::now(), 0);
        return;
      }
      // Streams start out of phase so their strides do not all land at once.
      const Clock::time_point first = start + seconds(o.shape.stride_ms / 1e3 * i / std::max(1, o.streams));
      for (int64_t k = 1;; ++k) {
        const Clock::time_point due = first + seconds(o.shape.stride_ms / 1e3 * static_cast<double>(k));
        if (due >= end) break;
        std::this_thread::sleep_until(due);
        const cortex::serve::Window s = workload.stride(10000.0 + o.shape.stride_ms * static_cast<double>(k));
        recorder.record_sent(due);
        int status = 0;
        Clock::time_point sent = due;
        try {
          if (o.binary) {
            const std::string frame = cortex::serve::encode_binary_request(s, o.shape.stride_ms, o.deadline_ms);
            sent = Clock::now();
            stream->send_binary(frame);
          } else {
            const std::string frame = cortex::serve::encode_json_request(s, o.deadline_ms);
            sent = Clock::now();
            stream->send_text(frame);
          }
          const nlohmann::json reply = nlohmann::json::parse(stream->receive(), nullptr, false);
          status = reply.contains("velocity") ? 200 : reply.value("status", 0);
        } catch (const cortex::Error&) {
          recorder.record(due, Clock::now(), 0);
          return;  // the server closed the stream
        }
        recorder.record(due, sent, Clock::now(), status);
      }
    });
  }
  for (auto& w : workers) w.join();
}

}  // namespace loadgen
