#pragma once
#include <cstdio>
#include <string>
#include <vector>

namespace cortex::bench {

// Collects rows and prints a markdown table with aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// printf-style formatting into a std::string.
std::string fmt(const char* format, double value);

}  // namespace cortex::bench
