package dev.sluice.engine.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A tiny reader of NumPy {@code .npy} files: little-endian float32, C order, any shape. */
public record Npy(int[] shape, float[] data) {
  private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

  public static Npy read(Path path) throws IOException {
    ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
    byte[] magic = new byte[6];
    buf.get(magic);
    if (magic[0] != (byte) 0x93
        || !new String(magic, 1, 5, StandardCharsets.US_ASCII).equals("NUMPY")) {
      throw new IOException(path + ": not a .npy file");
    }
    int major = buf.get();
    buf.get();
    int headerLen = major == 1 ? Short.toUnsignedInt(buf.getShort()) : buf.getInt();
    byte[] h = new byte[headerLen];
    buf.get(h);
    String header = new String(h, StandardCharsets.US_ASCII);
    if (!header.contains("'descr': '<f4'") || header.contains("'fortran_order': True")) {
      throw new IOException(
          path + ": only little-endian float32 in C order is supported: " + header);
    }
    Matcher m = SHAPE.matcher(header);
    if (!m.find()) {
      throw new IOException(path + ": no shape in header " + header);
    }
    String[] parts = m.group(1).split(",");
    int n = 0;
    int[] dims = new int[parts.length];
    long total = 1;
    for (String p : parts) {
      if (!p.isBlank()) {
        dims[n] = Integer.parseInt(p.trim());
        total *= dims[n++];
      }
    }
    int[] shape = java.util.Arrays.copyOf(dims, n);
    float[] data = new float[(int) total];
    buf.asFloatBuffer().get(data);
    return new Npy(shape, data);
  }
}
