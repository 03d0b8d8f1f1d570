package dev.sluice.seed;

import dev.sluice.engine.Backend;
import dev.sluice.engine.Backends;
import dev.sluice.engine.BatchEngine;
import dev.sluice.engine.FinishReason;
import dev.sluice.engine.GenerationRequest;
import dev.sluice.engine.KvBlockPool;
import dev.sluice.engine.KvCacheSpec;
import dev.sluice.engine.ModelResolver;
import dev.sluice.engine.ModelRunner;
import dev.sluice.engine.SequenceHandle;
import dev.sluice.engine.TokenSampler;
import dev.sluice.engine.TokenSink;
import dev.sluice.engine.chat.ChatMessage;
import dev.sluice.engine.chat.ChatTemplate;
import dev.sluice.engine.chat.ChatTemplateException;
import dev.sluice.engine.cpu.CpuBackend;
import dev.sluice.engine.cpu.NativeKernels;
import dev.sluice.engine.cpu.ScalarBackend;
import dev.sluice.engine.cuda.CudaDevice;
import dev.sluice.engine.cuda.CudaDevices;
import dev.sluice.engine.gguf.GgufFile;
import dev.sluice.engine.gguf.GgufFormatException;
import dev.sluice.engine.model.ModelLoader;
import dev.sluice.engine.model.ModelWeights;
import dev.sluice.engine.sampling.Sampler;
import dev.sluice.engine.sampling.SamplerState;
import dev.sluice.engine.sampling.SamplingParams;
import dev.sluice.engine.sampling.SamplingParamsException;
import dev.sluice.engine.tokenizer.StreamingDetokenizer;
import dev.sluice.engine.tokenizer.Tokenizer;
import dev.sluice.engine.tokenizer.TokenizerException;
import dev.sluice.node.launch.VectorModuleLauncher;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code generate}: runs a model locally on one prompt and prints the text as it is produced, then
 * the prefill and decode speeds. The quickest way to try the engine: with no options it downloads
 * the default tiny model once (stories260K) and continues "Once upon a time".
 *
 * <p>{@code --backend auto} (the default) runs on CUDA device {@code --device-index} when a CUDA
 * driver and that device exist, else on the CPU, and says which on stderr; {@code --backend cuda}
 * demands the GPU.
 *
 * <p>Exit codes: 0 done, 1 the model could not be resolved or loaded (the message says why, e.g.
 * offline: pass a local file), or {@code --backend cuda} and CUDA or the device is unusable here, 2
 * bad options.
 */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = "Generate text from a prompt with a local model (GGUF, llama or qwen2).")
public final class GenerateCommand implements Callable<Integer> {

  /** Which compute backend runs the model. */
  public enum BackendKind {
    scalar,
    cpu,
    cuda,
    auto
  }

  @Spec CommandSpec spec;

  @Option(
      names = "--model",
      paramLabel = "PATH_OR_ADDRESS",
      defaultValue = ModelResolver.DEFAULT_MODEL,
      description =
          "A local .gguf file or hf://OWNER/REPO/PATH[#sha256=HEX] (default: ${DEFAULT-VALUE}).")
  String model;

  @Option(
      names = "--prompt",
      defaultValue = "Once upon a time",
      description = "The text to continue (default: ${DEFAULT-VALUE}).")
  String prompt;

  @Option(
      names = {"-n", "--max-tokens"},
      defaultValue = "100",
      description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(
      names = "--temperature",
      defaultValue = "0.8",
      description = "0 = greedy (default: ${DEFAULT-VALUE}).")
  float temperature;

  @Option(
      names = "--top-k",
      defaultValue = "40",
      description = "0 = off (default: ${DEFAULT-VALUE}).")
  int topK;

  @Option(
      names = "--top-p",
      defaultValue = "0.95",
      description = "1 = off (default: ${DEFAULT-VALUE}).")
  float topP;

  @Option(names = "--seed", description = "Random seed; the same seed gives the same text.")
  Long seed;

  @Option(
      names = "--threads",
      description = "Compute threads of the cpu backend (default: the number of processors).")
  Integer threads;

  @Option(
      names = "--backend",
      defaultValue = "auto",
      description =
          "One of: ${COMPLETION-CANDIDATES}; auto = cuda when a CUDA driver and the device exist,"
              + " else cpu (default: ${DEFAULT-VALUE}).")
  BackendKind backend;

  @Option(
      names = "--device-index",
      defaultValue = "0",
      description = "CUDA device ordinal for --backend cuda|auto (default: ${DEFAULT-VALUE}).")
  int deviceIndex;

  @Option(
      names = "--chat",
      description =
          "Send the prompt as a user message through the model's chat template"
              + " (tokenizer.chat_template) and print only the reply.")
  boolean chat;

  @Option(names = "--system", description = "A system message (with --chat).")
  String system;

  @Option(
      names = "--context",
      defaultValue = "2048",
      description =
          "Most positions (prompt + output), capped at the model's context (default: ${DEFAULT-VALUE}).")
  int context;

  public static void main(String[] args) {
    System.exit(new CommandLine(new GenerateCommand()).execute(args));
  }

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (maxTokens < 1) {
      err.println("error: -n must be >= 1, got " + maxTokens);
      return 2;
    }
    if (threads != null && threads < 1) {
      err.println("error: --threads must be >= 1, got " + threads);
      return 2;
    }
    if (deviceIndex < 0) {
      err.println("error: --device-index must be >= 0, got " + deviceIndex);
      return 2;
    }
    if (backend == BackendKind.cuda) {
      // Checked before the model is fetched or mapped, so the answer comes at once.
      List<CudaDevice> gpus = CudaDevices.discover();
      if (gpus.isEmpty()) {
        err.println(
            "error: --backend cuda: CUDA is unusable here ("
                + CudaDevices.unavailableReason()
                + "); use --backend auto or cpu to run on the CPU");
        return 1;
      }
      if (deviceIndex >= gpus.size()) {
        err.println(
            "error: --device-index "
                + deviceIndex
                + ": the CUDA driver reports only "
                + gpus.size()
                + " device(s)");
        return 1;
      }
    }
    if (!VectorModuleLauncher.vectorModulePresent()) {
      // SeedNodeMain relaunches with the flag; only a direct call of this class gets here.
      err.println(
          "error: the engine needs the Vector API: run java --add-modules=jdk.incubator.vector");
      return 2;
    }
    Path file;
    try {
      file = ModelResolver.fromEnvironment(System.err).resolve(model);
    } catch (IOException | IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      return 1;
    }
    try (GgufFile gguf = GgufFile.open(file)) {
      return run(gguf, out, err);
    } catch (IOException | GgufFormatException | TokenizerException e) {
      err.println("error: cannot load " + file + ": " + e.getMessage());
      return 1;
    }
  }

  private int run(GgufFile gguf, PrintWriter out, PrintWriter err) {
    ModelWeights weights = ModelLoader.load(gguf);
    Tokenizer tokenizer = Tokenizer.fromGguf(gguf);
    int vocab = weights.config().vocabSize();
    SamplingParams params;
    try {
      params =
          SamplingParams.builder()
              .temperature(temperature)
              .topK(topK)
              .topP(topP)
              .seed(seed)
              .maxTokens(maxTokens)
              .build()
              .validateFor(vocab);
    } catch (SamplingParamsException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
    int[] promptIds;
    if (chat) {
      String rendered;
      try {
        ChatTemplate template = ChatTemplate.fromGguf(gguf, tokenizer);
        List<ChatMessage> messages = new ArrayList<>();
        if (system != null) {
          messages.add(ChatMessage.system(system));
        }
        messages.add(ChatMessage.user(prompt));
        rendered = template.render(messages, true);
      } catch (ChatTemplateException e) {
        err.println("error: " + e.getMessage());
        return 2;
      }
      // The template writes BOS itself when the model wants one; special tokens are parsed.
      String bos = tokenizer.bosId() >= 0 ? tokenizer.tokenText(tokenizer.bosId()) : null;
      boolean addBos = tokenizer.addsBos() && (bos == null || !rendered.startsWith(bos));
      promptIds = tokenizer.encode(rendered, addBos, true);
    } else if (system != null) {
      err.println("error: --system needs --chat");
      return 2;
    } else {
      promptIds = tokenizer.encode(prompt, tokenizer.addsBos(), false);
    }
    int maxSeqLen = Math.min(context, weights.config().contextLength());
    int blockSize = 16;
    if (promptIds.length >= maxSeqLen) {
      err.println(
          "error: the prompt has "
              + promptIds.length
              + " tokens, the context only "
              + maxSeqLen
              + " (raise --context)");
      return 2;
    }
    int positions = Math.min(promptIds.length + maxTokens, maxSeqLen);
    KvCacheSpec kv = new KvCacheSpec((positions + blockSize - 1) / blockSize, blockSize);

    try (Backend be = openBackend();
        ModelRunner runner = be.load(weights, kv)) {
      BatchEngine engine =
          new BatchEngine(
              runner, new KvBlockPool(kv), new BatchEngine.Settings(1, 512, 512, positions));
      Sampler sampler = new Sampler(vocab);
      SamplerState state = new SamplerState(params);
      TokenSampler tokenSampler = TokenSampler.of(sampler, params, state, null);
      StreamingDetokenizer detok = tokenizer.newStreamingDetokenizer(false);
      Printer printer = new Printer(out, detok);
      if (!chat) {
        out.print(prompt); // a completion continues the prompt; a chat reply stands alone
        out.flush();
      }
      printer.start = System.nanoTime();
      engine.submit(
          new GenerationRequest(
              promptIds, maxTokens, tokenizer.endOfGenerationIds(), tokenSampler, printer));
      while (!engine.idle()) {
        engine.step();
      }
      out.print(detok.flush());
      out.println();
      out.flush();
      if (printer.reason == FinishReason.ERROR) {
        err.println("error: generation failed: " + printer.error);
        return 1;
      }
      long end = System.nanoTime();
      long firstAt = printer.firstAt != 0 ? printer.firstAt : end;
      double prefillS = (firstAt - printer.start) / 1e9;
      double decodeS = (end - firstAt) / 1e9;
      int decoded = Math.max(printer.generated - 1, 0); // the first token comes from prefill
      err.printf(
          Locale.ROOT,
          "%s, %s backend%s, seed %d: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens,"
              + " decode %.1f tok/s, finished: %s%n",
          file(gguf),
          be.name(),
          be instanceof CpuBackend c
              ? " (" + c.threads() + " threads, native kernels " + NativeKernels.status() + ")"
              : "",
          state.seed(),
          promptIds.length,
          prefillS,
          promptIds.length / Math.max(prefillS, 1e-9),
          printer.generated,
          decoded / Math.max(decodeS, 1e-9),
          printer.reason.name().toLowerCase(Locale.ROOT));
      err.flush();
      return 0;
    }
  }

  private Backend openBackend() {
    int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    return switch (backend) {
      case scalar -> new ScalarBackend();
      case cpu -> new CpuBackend(t);
      // auto logs its choice (and why CUDA was not used) once; cuda was probed in call()
      case cuda, auto -> Backends.select(backend.name(), deviceIndex, t);
    };
  }

  private static String file(GgufFile gguf) {
    return gguf.path().getFileName().toString();
  }

  /** Prints each token's text as soon as it forms whole characters. */
  private static final class Printer implements TokenSink {
    private final PrintWriter out;
    private final StreamingDetokenizer detok;
    long start;
    long firstAt;
    int generated;
    FinishReason reason;
    Throwable error;

    Printer(PrintWriter out, StreamingDetokenizer detok) {
      this.out = out;
      this.detok = detok;
    }

    @Override
    public boolean onToken(SequenceHandle seq, int token) {
      if (generated++ == 0) {
        firstAt = System.nanoTime();
      }
      out.print(detok.push(token));
      out.flush();
      return true;
    }

    @Override
    public void onFinish(SequenceHandle seq, FinishReason reason, Throwable error) {
      this.reason = reason;
      this.error = error;
    }
  }
}
