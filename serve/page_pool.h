#pragma once
// A fixed pool of cache pages on one device: one tensor [pages, page_size, width] and a free
// list. Pages are handed out whole; the streaming cache decides what lives in them.
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/tensor.h"

namespace cortex::serve {

class PagePool {
 public:
  PagePool(int64_t pages, int64_t page_size, int64_t width, Device device);

  std::optional<int64_t> allocate();
  void release(int64_t page);

  // Rows [slot, slot + count) of a page: a view [count, width] into the pool.
  Tensor rows(int64_t page, int64_t slot, int64_t count) const;

  int64_t capacity() const { return pages_; }
  int64_t in_use() const { return pages_ - static_cast<int64_t>(free_.size()); }
  int64_t page_size() const { return page_size_; }
  int64_t width() const { return width_; }
  int64_t bytes() const { return static_cast<int64_t>(storage_.nbytes()); }

 private:
  int64_t pages_, page_size_, width_;
  Tensor storage_;
  std::vector<int64_t> free_;
  std::vector<bool> allocated_;
};

}  // namespace cortex::serve
