#pragma once

namespace cortex {

// Whether ops record autograd history on this thread.
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Disables history recording for the scope (inference, optimiser steps, backward itself).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace cortex
