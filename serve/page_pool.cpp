#include "serve/page_pool.h"

#include "engine/error.h"
#include "engine/factory.h"

namespace cortex::serve {

PagePool::PagePool(int64_t pages, int64_t page_size, int64_t width, Device device)
    : pages_(pages), page_size_(page_size), width_(width) {
  CORTEX_CHECK(pages > 0 && page_size > 0 && width > 0, "PagePool", "pages, page_size and width must be positive, got ",
               pages, ", ", page_size, ", ", width);
  storage_ = empty({pages, page_size, width}, DType::f32, device);
  free_.reserve(pages);
  // Handed out from the low end first, which keeps tests readable.
  for (int64_t p = pages - 1; p >= 0; --p) free_.push_back(p);
  allocated_.assign(pages, false);
}

std::optional<int64_t> PagePool::allocate() {
  if (free_.empty()) return std::nullopt;
  const int64_t p = free_.back();
  free_.pop_back();
  allocated_[p] = true;
  return p;
}

void PagePool::release(int64_t page) {
  CORTEX_CHECK(page >= 0 && page < pages_ && allocated_[page], "PagePool::release", "page ", page,
               " is not allocated (pool of ", pages_, ")");
  allocated_[page] = false;
  free_.push_back(page);
}

Tensor PagePool::rows(int64_t page, int64_t slot, int64_t count) const {
  CORTEX_CHECK(page >= 0 && page < pages_ && slot >= 0 && count >= 0 && slot + count <= page_size_, "PagePool::rows",
               "rows [", slot, ", ", slot + count, ") of page ", page, " are outside a pool of ", pages_,
               " pages of ", page_size_);
  return storage_.view_as_strided({count, width_}, {width_, 1}, storage_.offset() + (page * page_size_ + slot) * width_);
}

}  // namespace cortex::serve
