package dev.sluice.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes a GGUF v3 file with metadata only (no tensors), for tokenizer tests. */
final class MiniGguf {
  private final Map<String, Object> kv = new LinkedHashMap<>();

  MiniGguf put(String key, Object value) {
    kv.put(key, value);
    return this;
  }

  Path write(Path file) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(le(4).putInt(0x46554747).array());
    out.writeBytes(le(4).putInt(3).array());
    out.writeBytes(le(8).putLong(0).array());
    out.writeBytes(le(8).putLong(kv.size()).array());
    for (var e : kv.entrySet()) {
      str(out, e.getKey());
      Object v = e.getValue();
      switch (v) {
        case String s -> {
          out.writeBytes(le(4).putInt(8).array());
          str(out, s);
        }
        case Integer i -> {
          out.writeBytes(le(4).putInt(4).array());
          out.writeBytes(le(4).putInt(i).array());
        }
        case Boolean b -> {
          out.writeBytes(le(4).putInt(7).array());
          out.write(b ? 1 : 0);
        }
        case String[] a -> {
          out.writeBytes(le(4).putInt(9).array());
          out.writeBytes(le(4).putInt(8).array());
          out.writeBytes(le(8).putLong(a.length).array());
          for (String s : a) {
            str(out, s);
          }
        }
        case int[] a -> {
          out.writeBytes(le(4).putInt(9).array());
          out.writeBytes(le(4).putInt(5).array());
          out.writeBytes(le(8).putLong(a.length).array());
          for (int x : a) {
            out.writeBytes(le(4).putInt(x).array());
          }
        }
        default -> throw new IllegalArgumentException("unsupported value " + v);
      }
    }
    Files.write(file, out.toByteArray());
    return file;
  }

  private static void str(ByteArrayOutputStream out, String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeBytes(le(8).putLong(b.length).array());
    out.writeBytes(b);
  }

  private static ByteBuffer le(int n) {
    return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
  }
}
