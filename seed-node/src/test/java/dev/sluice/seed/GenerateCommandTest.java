package dev.sluice.seed;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufTensor;
import dev.sluice.engine.gguf.GgufWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The {@code generate} command end to end on the real stories260K model. */
class GenerateCommandTest {
  /** models/README.md: greedy continuation of "Once upon a time" (57 tokens). */
  private static final String EXPECTED =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the"
          + " park. One day, she saw a big, red ball. She wanted to play with it, but it was too"
          + " high.";

  private static Path model() {
    String d = System.getProperty("sluice.data.dir", System.getenv("SLUICE_DATA_DIR"));
    assumeTrue(
        d != null && !d.isBlank() && Files.isDirectory(Path.of(d)),
        "SLUICE_DATA_DIR (the shared data folder with models/) is not set");
    Path p = Path.of(d, "models", "stories260K.gguf");
    assumeTrue(Files.isRegularFile(p), "missing " + p);
    return p;
  }

  private record Run(int code, String out, String err) {}

  private static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new GenerateCommand());
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void demandingCudaWithoutADriverIsAClearErrorBeforeTheModelLoads() {
    assumeTrue(dev.sluice.engine.cuda.CudaDevices.discover().isEmpty(), "a CUDA device is present");
    // The model is never fetched: the device is checked first (no network, no data folder).
    Run r = run("--backend", "cuda", "--model", "/nonexistent/m.gguf");
    assertThat(r.code()).as(r.err()).isEqualTo(1);
    assertThat(r.err())
        .contains("--backend cuda")
        .contains("CUDA is unusable here")
        .contains(dev.sluice.engine.cuda.CudaDevices.unavailableReason())
        .doesNotContain("m.gguf");
  }

  @Test
  void aNegativeDeviceIndexIsABadOption() {
    Run r = run("--device-index", "-1", "--model", "/nonexistent/m.gguf");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--device-index must be >= 0");
  }

  @Test
  void autoRunsOnTheCpuWithoutADriver() {
    assumeTrue(dev.sluice.engine.cuda.CudaDevices.discover().isEmpty(), "a CUDA device is present");
    Run r = run("--model", model().toString(), "-n", "4", "--temperature", "0");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.err()).contains("cpu backend");
  }

  @Test
  void greedyTextEqualsTheReferenceOnBothBackends() {
    String m = model().toString();
    for (String backend : new String[] {"scalar", "cpu"}) {
      Run r =
          run(
              "--model",
              m,
              "--prompt",
              "Once upon a time",
              "-n",
              "57",
              "--temperature",
              "0",
              "--backend",
              backend,
              "--threads",
              "2");
      assertThat(r.code()).as(r.err()).isZero();
      assertThat(r.out()).as(backend + ": " + r.err()).isEqualTo(EXPECTED + System.lineSeparator());
      assertThat(r.err())
          .contains("prompt 5 tokens")
          .contains("generated 57 tokens")
          .contains("tok/s");
    }
  }

  @Test
  void sameSeedSameText() {
    String m = model().toString();
    Run a = run("--model", m, "-n", "30", "--temperature", "1", "--seed", "7");
    Run b = run("--model", m, "-n", "30", "--temperature", "1", "--seed", "7");
    assertThat(a.code()).as(a.err()).isZero();
    assertThat(a.out()).isEqualTo(b.out()).startsWith("Once upon a time");
  }

  @Test
  void missingModelAndBadOptionsGiveClearErrors() {
    Run missing = run("--model", "/nonexistent/model.gguf");
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("/nonexistent/model.gguf").contains("model file not found");
    Run badBackend = run("--backend", "tpu");
    assertThat(badBackend.code()).isEqualTo(2);
    assertThat(badBackend.err()).contains("--backend").contains("scalar, cpu");
  }

  @Test
  void chatModeRendersTheTemplateAndPrintsOnlyTheReply(@TempDir Path tmp) throws Exception {
    // stories260K with a ChatML template added: the reply is nonsense, the plumbing is real.
    Path withTemplate = tmp.resolve("chat.gguf");
    try (GgufFile src = GgufFile.open(model())) {
      GgufWriter w = new GgufWriter().copyMetadata(src, "");
      w.putString(
          "tokenizer.chat_template",
          "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'"
              + " + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
              + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
      for (GgufTensor t : src.tensors().values()) {
        w.addTensor(
            t.name(),
            t.type(),
            t.shape(),
            out -> out.write(t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
      }
      w.write(withTemplate);
    }
    Run r =
        run(
            "--model",
            withTemplate.toString(),
            "--chat",
            "--prompt",
            "Hi",
            "-n",
            "5",
            "--temperature",
            "0",
            "--backend",
            "scalar");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).doesNotContain("im_start").doesNotContain("Hi");
    // "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" as SentencePiece text.
    assertThat(r.err()).containsPattern("prompt [1-9][0-9] tokens");

    Run plain = run("--model", model().toString(), "--chat", "-n", "5");
    assertThat(plain.code()).isEqualTo(2);
    assertThat(plain.err()).contains("no tokenizer.chat_template");
  }
}
