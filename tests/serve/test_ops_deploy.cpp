// ops-deploy/ cannot run here (no Docker engine, no cluster), so its files are checked for
// syntax and for agreeing with the server: YAML parses, the dashboard is valid JSON whose
// every metric the server exports, and the Helm probes hit /ready and /health.
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "serve/metrics.h"
#include "tests/test_util.h"

using namespace cortex::serve;

namespace {

std::string repo_root() {
  if (const char* dir = std::getenv("CORTEX_SOURCE_DIR")) return dir;
  const std::string here = __FILE__;  // <root>/tests/serve/test_ops_deploy.cpp
  return here.substr(0, here.rfind("/tests/serve/"));
}

std::string read(const std::string& relative) {
  std::ifstream f(repo_root() + "/" + relative);
  REQUIRE_MESSAGE(f.good(), "missing " << repo_root() << "/" << relative
                                       << " (a test binary run away from its source tree needs CORTEX_SOURCE_DIR)");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Helm templates are Go templates: control lines are dropped and values replaced by a
// placeholder, which leaves the YAML structure to check.
std::string strip_helm(const std::string& text) {
  std::stringstream in(text), out;
  std::string line;
  const std::regex control(R"(^\s*\{\{-?[^}]*\}\}\s*$)");
  const std::regex value(R"(\{\{[^}]*\}\})");
  while (std::getline(in, line)) {
    if (std::regex_match(line, control)) continue;
    out << std::regex_replace(line, value, "placeholder") << "\n";
  }
  return out.str();
}

}  // namespace

TEST_CASE("ops-deploy: compose, Prometheus and Grafana provisioning files are valid YAML that fit together") {
  const YAML::Node compose = YAML::Load(read("ops-deploy/docker-compose.yml"));
  for (const char* service : {"cortex-serve", "prometheus", "grafana"}) CHECK(compose["services"][service].IsMap());
  CHECK(compose["services"]["cortex-serve"]["stop_signal"].as<std::string>() == "SIGTERM");
  const YAML::Node prom = YAML::Load(read("ops-deploy/prometheus.yml"));
  const YAML::Node job = prom["scrape_configs"][0];
  CHECK(job["metrics_path"].as<std::string>() == "/metrics");
  CHECK(job["static_configs"][0]["targets"][0].as<std::string>() == "cortex-serve:8080");
  CHECK(YAML::Load(read("ops-deploy/grafana/provisioning/datasources/prometheus.yml"))["datasources"][0]["uid"]
            .as<std::string>() == "prometheus");
  CHECK(YAML::Load(read("ops-deploy/grafana/provisioning/dashboards/cortex.yml"))["providers"][0]["options"]["path"]
            .as<std::string>() == "/var/lib/grafana/dashboards");
}

TEST_CASE("ops-deploy: the Grafana dashboard is valid JSON and only uses metrics the server exports") {
  const auto dash = nlohmann::json::parse(read("ops-deploy/grafana/dashboards/cortex-serve.json"));
  REQUIRE(dash["panels"].is_array());
  // Every family the server registers, as the exposition names them.
  Metrics m;
  m.count_request("decode", 200);
  m.count_admitted("decode");
  m.count_rejection(Rejection::queue_full);
  m.count_deadline_miss("expired_in_queue");
  m.set_device_memory("parameters", 1);
  m.set_connections("http", 1);
  const std::string exposition = m.render();
  std::set<std::string> exported;
  const std::regex series(R"(^(cortex_[a-z_]+))");
  std::stringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (std::regex_search(line, match, series)) exported.insert(match[1]);
  }
  const std::regex used(R"(cortex_[a-z_]+)");
  int exprs = 0;
  for (const auto& panel : dash["panels"]) {
    for (const auto& target : panel["targets"]) {
      const std::string expr = target["expr"].get<std::string>();
      ++exprs;
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), used); it != std::sregex_iterator(); ++it)
        CHECK_MESSAGE(exported.count(it->str()) == 1, it->str() << " in panel '" << panel["title"] << "'");
    }
  }
  CHECK(exprs >= 20);
  // The latency buckets the dashboard reads exist.
  for (const char* le : {"0.005", "0.01", "0.03", "0.05"})
    CHECK(exposition.find(std::string("le=\"") + le + "\"") != std::string::npos);
}

TEST_CASE("ops-deploy: the Helm chart parses and probes /ready and /health") {
  const YAML::Node chart = YAML::Load(read("ops-deploy/helm/cortex-serve/Chart.yaml"));
  CHECK(chart["apiVersion"].as<std::string>() == "v2");
  CHECK(chart["name"].as<std::string>() == "cortex-serve");
  const YAML::Node values = YAML::Load(read("ops-deploy/helm/cortex-serve/values.yaml"));
  CHECK(values["server"]["port"].as<int>() == 8080);
  const YAML::Node deployment = YAML::Load(strip_helm(read("ops-deploy/helm/cortex-serve/templates/deployment.yaml")));
  CHECK(deployment["kind"].as<std::string>() == "Deployment");
  const YAML::Node container = deployment["spec"]["template"]["spec"]["containers"][0];
  CHECK(container["readinessProbe"]["httpGet"]["path"].as<std::string>() == "/ready");
  CHECK(container["livenessProbe"]["httpGet"]["path"].as<std::string>() == "/health");
  const YAML::Node service = YAML::Load(strip_helm(read("ops-deploy/helm/cortex-serve/templates/service.yaml")));
  CHECK(service["kind"].as<std::string>() == "Service");
}
