package dev.sluice.node.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The files in {@code deploy/}: Prometheus rules pass their unit tests, configurations are valid,
 * and every metric a dashboard panel or an alert rule queries is one a node exports.
 */
class DeployConfigTest {

  static final Path DEPLOY = Path.of("..", "deploy").toAbsolutePath().normalize();
  static final ObjectMapper JSON = new ObjectMapper();
  static ActorSystem<Void> system;
  static Set<String> exported;

  @BeforeAll
  static void exportedNames() throws Exception {
    system =
        ActorSystem.create(Behaviors.empty(), "deploy", MetricsEndpointTest.nodeConfig("deploy"));
    NodeMetrics nm = NodeMetrics.get(system);
    MetricsEndpointTest.exerciseAll(nm.metrics());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, nm.registry().scrape());
    exported = new TreeSet<>();
    for (String line : out.toString(StandardCharsets.UTF_8).split("\n")) {
      if (!line.isEmpty() && !line.startsWith("#")) {
        exported.add(line.split("[{ ]", 2)[0]);
      }
    }
    // GPU series exist only where NVML loads; they are gauges, so family = sample name.
    exported.addAll(HostMetrics.GPU_FAMILIES);
    // Prometheus' own per-target series.
    exported.add("up");
    // Recording rules of deploy/prometheus/rules.
    Matcher m =
        Pattern.compile("- record: (\\S+)")
            .matcher(Files.readString(DEPLOY.resolve("prometheus/rules/sluice-alerts.yml")));
    while (m.find()) {
      exported.add(m.group(1));
    }
  }

  @AfterAll
  static void stop() throws Exception {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private static final Set<String> KEYWORDS =
      Set.of(
          "by",
          "without",
          "on",
          "ignoring",
          "group_left",
          "group_right",
          "and",
          "or",
          "unless",
          "bool",
          "offset",
          "inf",
          "nan");

  /** Metric names a PromQL expression reads (functions, keywords, labels and strings left out). */
  static Set<String> metricNames(String expr) {
    String s = expr;
    s = s.replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "\"\"");
    s = s.replaceAll("'(?:[^'\\\\]|\\\\.)*'", "''");
    s = s.replaceAll("\\$\\{[^}]*}|\\$\\w+", "");
    s = s.replaceAll("\\{[^}]*}", "");
    s = s.replaceAll("\\[[^]]*]", "");
    s = s.replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", "");
    Set<String> names = new TreeSet<>();
    Matcher m = Pattern.compile("(?<![\\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\\s*\\()?").matcher(s);
    while (m.find()) {
      if (m.group(2) == null && !KEYWORDS.contains(m.group(1).toLowerCase())) {
        names.add(m.group(1));
      }
    }
    return names;
  }

  @Test
  void metricNameExtractionSkipsFunctionsLabelsAndVariables() {
    assertThat(
            metricNames(
                "histogram_quantile(0.99, sum by (model, le) (rate(sluice_queue_wait_seconds_bucket"
                    + "{instance=~\"$instance\",model=~\"$model\"}[$__rate_interval]))) / on (x)"
                    + " up offset 5m > 2e-1 and sluice:requests:rate5m * 300"))
        .containsExactlyInAnyOrder(
            "sluice_queue_wait_seconds_bucket", "up", "sluice:requests:rate5m");
  }

  @Test
  void everyDashboardQueryNamesAnExportedMetric() throws Exception {
    Map<String, List<String>> unknown = new TreeMap<>();
    Set<String> used = new TreeSet<>();
    List<Path> dashboards;
    try (Stream<Path> files = Files.list(DEPLOY.resolve("grafana/dashboards"))) {
      dashboards = files.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
    assertThat(dashboards)
        .extracting(p -> p.getFileName().toString())
        .containsExactlyInAnyOrder(
            "sluice-cluster-overview.json",
            "sluice-devices.json",
            "sluice-latency-slo.json",
            "sluice-cache-tiers.json",
            "sluice-planner.json");
    for (Path p : dashboards) {
      JsonNode d = JSON.readTree(p.toFile());
      List<String> exprs = new ArrayList<>();
      collectExprs(d.get("panels"), exprs);
      for (JsonNode v : d.at("/templating/list")) {
        String q = v.path("query").isObject() ? v.at("/query/query").asText("") : "";
        Matcher lv = Pattern.compile("label_values\\((.*),\\s*\\w+\\)").matcher(q);
        if (lv.matches()) {
          exprs.add(lv.group(1));
        }
      }
      assertThat(exprs).as("queries of %s", p.getFileName()).isNotEmpty();
      for (String e : exprs) {
        Set<String> names = metricNames(e);
        assertThat(names).as("metrics in '%s' (%s)", e, p.getFileName()).isNotEmpty();
        for (String n : names) {
          used.add(n);
          if (!exported.contains(n)) {
            unknown.computeIfAbsent(p.getFileName() + ": " + n, k -> new ArrayList<>()).add(e);
          }
        }
      }
    }
    assertThat(unknown).as("dashboard queries naming metrics no node exports").isEmpty();
    // Every application family has a panel somewhere.
    for (String family :
        List.of(
            "sluice_requests_total",
            "sluice_refusals_total",
            "sluice_kv_blocks_used",
            "sluice_batch_size_bucket",
            "sluice_gpu_utilization_ratio",
            "sluice_peer_round_trip_seconds",
            "sluice_cache_lookups_total",
            "sluice_planner_decisions_total",
            "sluice_model_load_duration_seconds",
            "sluice_cluster_members")) {
      assertThat(used).as("dashboards show %s", family).contains(family);
    }
  }

  @Test
  void familiesNotYetFedAreStillDefined() {
    // Dashboards may show them before their features land; the names must exist all the same.
    for (String family : SluiceMetrics.NOT_YET_FED) {
      assertThat(exported).as(family).containsAnyOf(family, family + "_bucket");
    }
  }

  private static void collectExprs(JsonNode panels, List<String> out) {
    if (panels == null) {
      return;
    }
    for (JsonNode panel : panels) {
      for (JsonNode t : panel.path("targets")) {
        if (t.hasNonNull("expr")) {
          out.add(t.get("expr").asText());
        }
      }
      collectExprs(panel.get("panels"), out);
    }
  }

  @Test
  void everyAlertRuleQueriesAnExportedMetric() throws Exception {
    Matcher m =
        Pattern.compile("expr: (.+)")
            .matcher(Files.readString(DEPLOY.resolve("prometheus/rules/sluice-alerts.yml")));
    int rules = 0;
    while (m.find()) {
      rules++;
      assertThat(exported)
          .as("metrics of rule '%s'", m.group(1))
          .containsAll(metricNames(m.group(1)));
    }
    assertThat(rules).isGreaterThanOrEqualTo(7);
  }

  @Test
  void promtoolUnitTestsOfTheAlertRulesPass() throws Exception {
    assumeTrue(Promtool.find() != null, Promtool.MISSING);
    Promtool.Result r =
        Promtool.run(
            null,
            "test",
            "rules",
            DEPLOY.resolve("prometheus/tests/sluice-alerts.test.yml").toString());
    assertThat(r.output()).contains("SUCCESS");
    assertThat(r.exitCode()).as(r.output()).isZero();
  }

  @Test
  void prometheusConfigsAreValid() throws Exception {
    assumeTrue(Promtool.find() != null, Promtool.MISSING);
    Promtool.Result r =
        Promtool.run(
            null, "check", "config", DEPLOY.resolve("prometheus/prometheus.yml").toString());
    assertThat(r.exitCode()).as(r.output()).isZero();
    Promtool.Result k8s =
        Promtool.run(
            null,
            "check",
            "config",
            DEPLOY.resolve("prometheus/prometheus-kubernetes.yml").toString());
    assumeTrue(
        !k8s.output().contains("field kubernetes_sd_configs not found"),
        "this promtool is built without Kubernetes service discovery (Debian's is): "
            + "prometheus-kubernetes.yml not checked");
    assertThat(k8s.exitCode()).as(k8s.output()).isZero();
  }

  @Test
  void alertmanagerConfigIsValid() throws Exception {
    Path amtool = Path.of("/usr/bin/amtool");
    assumeTrue(
        Files.isExecutable(amtool),
        "amtool not installed (Debian package prometheus-alertmanager): skipping");
    Process p =
        new ProcessBuilder(
                amtool.toString(),
                "check-config",
                DEPLOY.resolve("alertmanager/alertmanager.yml").toString())
            .redirectErrorStream(true)
            .start();
    try {
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.exitValue()).as(out).isZero();
    } finally {
      p.destroyForcibly();
    }
  }
}
