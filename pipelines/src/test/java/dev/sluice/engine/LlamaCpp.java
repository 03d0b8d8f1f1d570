package dev.sluice.engine;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * llama.cpp as a reference engine: runs {@code bench/llamacpp/generate.mjs} (node-llama-cpp) in a
 * child process and reads its JSON. {@link #locate()} returns null when the harness is not
 * installed (no {@code node} or no {@code bench/llamacpp/node_modules}; see {@code
 * .ci/install.d/llamacpp.sh}), so tests can skip with a message.
 */
final class LlamaCpp {

  /** One greedy run: the generated tokens and, per step, the top tokens' log-probabilities. */
  record Run(int[] prompt, int[] tokens, int[][] topIds, double[][] topLogprobs) {
    /** Logit gap between llama.cpp's first and second choice at {@code step}. */
    double margin(int step) {
      double[] lp = topLogprobs[step];
      return lp.length < 2 ? Double.POSITIVE_INFINITY : lp[0] - lp[1];
    }
  }

  private final Path dir;

  private LlamaCpp(Path dir) {
    this.dir = dir;
  }

  /** The installed harness, or null (with the reason in {@link #missingReason()}). */
  static LlamaCpp locate() {
    Path d = harnessDir();
    if (d == null || !Files.isDirectory(d.resolve("node_modules/node-llama-cpp"))) {
      return null;
    }
    try {
      Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      if (p.waitFor() != 0) {
        return null;
      }
    } catch (IOException | InterruptedException e) {
      return null;
    }
    return new LlamaCpp(d);
  }

  static String missingReason() {
    return "llama.cpp reference not installed: run .ci/install.d/llamacpp.sh (npm ci in "
        + "bench/llamacpp; needs node >= 20 on the PATH)";
  }

  /** bench/llamacpp of this checkout, found from the working directory upwards. */
  static Path harnessDir() {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      Path d = p.resolve("bench/llamacpp");
      if (Files.isRegularFile(d.resolve("generate.mjs"))) {
        return d;
      }
    }
    return null;
  }

  /** Greedy-decodes {@code n} tokens after each prompt, with the top {@code top} per step. */
  List<Run> generate(Path model, List<int[]> prompts, int n, int top, int threads)
      throws IOException, InterruptedException {
    String tokens =
        prompts.stream()
            .map(
                p ->
                    java.util.Arrays.stream(p)
                        .mapToObj(Integer::toString)
                        .collect(Collectors.joining(" ")))
            .collect(Collectors.joining(";"));
    Process proc =
        new ProcessBuilder(
                "node",
                "generate.mjs",
                "--model",
                model.toAbsolutePath().toString(),
                "--tokens",
                tokens,
                "--n",
                Integer.toString(n),
                "--top",
                Integer.toString(top),
                "--threads",
                Integer.toString(threads))
            .directory(dir.toFile())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!proc.waitFor(10, TimeUnit.MINUTES) || proc.exitValue() != 0) {
      throw new IOException("llama.cpp (generate.mjs) failed on " + model + ": " + out);
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> json = (Map<String, Object>) MiniJson.parse(out.strip());
    List<Run> runs = new ArrayList<>();
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> rs = (List<Map<String, Object>>) json.get("runs");
    for (Map<String, Object> r : rs) {
      int[] gen = ints(r.get("tokens"));
      @SuppressWarnings("unchecked")
      List<Map<String, Object>> steps = (List<Map<String, Object>>) r.get("steps");
      int[][] ids = new int[steps.size()][];
      double[][] lps = new double[steps.size()][];
      for (int s = 0; s < steps.size(); s++) {
        @SuppressWarnings("unchecked")
        List<List<Object>> topList = (List<List<Object>>) steps.get(s).get("top");
        ids[s] = new int[topList.size()];
        lps[s] = new double[topList.size()];
        for (int k = 0; k < topList.size(); k++) {
          ids[s][k] = ((Double) topList.get(k).get(0)).intValue();
          lps[s][k] = (Double) topList.get(k).get(1);
        }
      }
      runs.add(new Run(ints(r.get("prompt")), gen, ids, lps));
    }
    return runs;
  }

  private static int[] ints(Object list) {
    @SuppressWarnings("unchecked")
    List<Object> l = (List<Object>) list;
    return l.stream().mapToInt(o -> ((Double) o).intValue()).toArray();
  }
}
