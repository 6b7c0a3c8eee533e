#include "serve/server_state.h"

#include <vector>

namespace cortex::serve {

uint64_t SessionRegistry::add(std::weak_ptr<Drainable> session) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_++;
  sessions_.emplace(id, std::move(session));
  return id;
}

void SessionRegistry::remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(id);
}

size_t SessionRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

void SessionRegistry::drain_all() {
  std::vector<std::shared_ptr<Drainable>> live;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, weak] : sessions_)
      if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->drain();
}

}  // namespace cortex::serve
