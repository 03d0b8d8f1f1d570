package dev.sluice.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Writes GGUF files with {@link GgufWriter} and reads them back with {@link GgufFile}. */
class GgufWriterTest {

  @TempDir Path tmp;

  @Test
  void everyMetadataTypeRoundTrips() throws IOException {
    GgufWriter w =
        new GgufWriter()
            .put("u8", GgufValueType.UINT8, 250)
            .put("i8", GgufValueType.INT8, -100)
            .put("u16", GgufValueType.UINT16, 65000)
            .put("i16", GgufValueType.INT16, -30000)
            .put("u32", GgufValueType.UINT32, 4_000_000_000L)
            .put("i32", GgufValueType.INT32, -2_000_000_000)
            .put("f32", GgufValueType.FLOAT32, 1.5f)
            .put("bool", GgufValueType.BOOL, true)
            .put("str", GgufValueType.STRING, "héllo ▁wörld")
            .put("u64", GgufValueType.UINT64, 1L << 40)
            .put("i64", GgufValueType.INT64, -(1L << 50))
            .put("f64", GgufValueType.FLOAT64, Math.PI)
            .putArray("a.u8", GgufValueType.UINT8, new int[] {0, 255})
            .putArray("a.i8", GgufValueType.INT8, new int[] {-128, 127})
            .putArray("a.u16", GgufValueType.UINT16, new int[] {1, 65535})
            .putArray("a.i16", GgufValueType.INT16, new int[] {-32768, 5})
            .putArray("a.u32", GgufValueType.UINT32, new long[] {7, 4_000_000_000L})
            .putArray("a.i32", GgufValueType.INT32, new int[] {-1, 2, 3})
            .putArray("a.f32", GgufValueType.FLOAT32, new float[] {0.25f, -3f})
            .putArray("a.bool", GgufValueType.BOOL, new boolean[] {true, false, true})
            .putArray("a.str", GgufValueType.STRING, new String[] {"a", "", "<0x0A>"})
            .putArray("a.u64", GgufValueType.UINT64, new long[] {1L << 33})
            .putArray("a.i64", GgufValueType.INT64, new long[] {-5, 1L << 60})
            .putArray("a.f64", GgufValueType.FLOAT64, new double[] {1e-300, 2.5})
            .putArray("a.empty", GgufValueType.INT32, new int[0]);
    Path p = tmp.resolve("meta.gguf");
    w.write(p);

    try (GgufFile f = GgufFile.open(p)) {
      assertThat(f.version()).isEqualTo(3);
      assertThat(f.tensors()).isEmpty();
      assertThat(f.get("u8")).isEqualTo(250);
      assertThat(f.get("i8")).isEqualTo(-100);
      assertThat(f.get("u16")).isEqualTo(65000);
      assertThat(f.get("i16")).isEqualTo(-30000);
      assertThat(f.get("u32")).isEqualTo(4_000_000_000L);
      assertThat(f.get("i32")).isEqualTo(-2_000_000_000);
      assertThat(f.get("f32")).isEqualTo(1.5f);
      assertThat(f.get("bool")).isEqualTo(true);
      assertThat(f.get("str")).isEqualTo("héllo ▁wörld");
      assertThat(f.get("u64")).isEqualTo(1L << 40);
      assertThat(f.get("i64")).isEqualTo(-(1L << 50));
      assertThat(f.get("f64")).isEqualTo(Math.PI);
      assertThat((int[]) f.get("a.u8")).containsExactly(0, 255);
      assertThat((int[]) f.get("a.i8")).containsExactly(-128, 127);
      assertThat((int[]) f.get("a.u16")).containsExactly(1, 65535);
      assertThat((int[]) f.get("a.i16")).containsExactly(-32768, 5);
      assertThat((int[]) f.get("a.u32")).containsExactly(7, (int) 4_000_000_000L);
      assertThat((int[]) f.get("a.i32")).containsExactly(-1, 2, 3);
      assertThat((float[]) f.get("a.f32")).containsExactly(0.25f, -3f);
      assertThat((boolean[]) f.get("a.bool")).containsExactly(true, false, true);
      assertThat((String[]) f.get("a.str")).containsExactly("a", "", "<0x0A>");
      assertThat((long[]) f.get("a.u64")).containsExactly(1L << 33);
      assertThat((long[]) f.get("a.i64")).containsExactly(-5, 1L << 60);
      assertThat((double[]) f.get("a.f64")).containsExactly(1e-300, 2.5);
      assertThat((int[]) f.get("a.empty")).isEmpty();
      // the on-disk types survive, so a copy keeps them
      assertThat(f.valueType("u32")).isEqualTo(GgufValueType.UINT32);
      assertThat(f.valueType("i64")).isEqualTo(GgufValueType.INT64);
      assertThat(f.valueType("a.u16")).isEqualTo(GgufValueType.ARRAY);
      assertThat(f.arrayElementType("a.u16")).isEqualTo(GgufValueType.UINT16);

      Path copy = tmp.resolve("copy.gguf");
      new GgufWriter().copyMetadata(f, "a.").copyMetadata(f, "u").write(copy);
      try (GgufFile c = GgufFile.open(copy)) {
        assertThat(c.metadata().keySet())
            .containsExactly(
                "a.u8", "a.i8", "a.u16", "a.i16", "a.u32", "a.i32", "a.f32", "a.bool", "a.str",
                "a.u64", "a.i64", "a.f64", "a.empty", "u8", "u16", "u32", "u64");
        for (String k : c.metadata().keySet()) {
          assertThat(c.valueType(k)).as(k).isEqualTo(f.valueType(k));
          assertThat(c.arrayElementType(k)).as(k).isEqualTo(f.arrayElementType(k));
        }
        assertThat((int[]) c.get("a.u32")).containsExactly(7, (int) 4_000_000_000L);
      }
    }
  }

  @Test
  void valuesOutOfRangeAreRefusedNamingTheKey() {
    assertThatThrownBy(() -> new GgufWriter().put("x.u8", GgufValueType.UINT8, 256))
        .hasMessageContaining("x.u8");
    assertThatThrownBy(
            () -> new GgufWriter().putArray("x.i8", GgufValueType.INT8, new int[] {1, 200}))
        .hasMessageContaining("x.i8[1]");
    assertThatThrownBy(() -> new GgufWriter().put("x.s", GgufValueType.STRING, 3))
        .hasMessageContaining("x.s");
  }

  @Test
  void everyTensorTypeRoundTripsAligned() throws IOException {
    Random r = new Random(1);
    GgufWriter w = new GgufWriter().alignment(64);
    float[][] values = new float[GgmlType.values().length][];
    for (GgmlType t : GgmlType.values()) {
      int cols = 512;
      int rows = 3;
      float[] v = new float[cols * rows];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) r.nextGaussian();
      }
      values[t.ordinal()] = v;
      byte[] bytes = Quantizer.quantize(t, v);
      w.addTensor("t." + t, t, new long[] {cols, rows}, out -> out.write(bytes));
    }
    // an odd-sized F32 vector between them forces padding before the next tensor
    w.addF32("odd", new long[] {5}, new float[] {1, 2, 3, 4, 5});
    Path p = tmp.resolve("tensors.gguf");
    w.write(p);

    try (GgufFile f = GgufFile.open(p)) {
      assertThat(f.alignment()).isEqualTo(64);
      assertThat(f.dataOffset() % 64).isZero();
      for (GgmlType t : GgmlType.values()) {
        GgufTensor g = f.tensor("t." + t);
        assertThat(g.type()).isEqualTo(t);
        assertThat(g.shape()).containsExactly(512, 3);
        assertThat((g.data().address() - f.tensor("t.F32").data().address()) % 64).isZero();
        byte[] expected = Quantizer.quantize(t, values[t.ordinal()]);
        assertThat(g.data().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);
      }
      float[] odd = f.tensor("odd").data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
      assertThat(odd).containsExactly(1, 2, 3, 4, 5);
    }
  }

  @Test
  void aSourceOfTheWrongSizeFailsNamingTheTensor() {
    GgufWriter w =
        new GgufWriter()
            .addTensor(
                "blk.0.ffn_up.weight",
                GgmlType.Q8_0,
                new long[] {32, 2},
                out -> {
                  out.write(new byte[67]);
                });
    Path p = tmp.resolve("bad.gguf");
    assertThatThrownBy(() -> w.write(p))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("blk.0.ffn_up.weight")
        .hasMessageContaining("68");
    assertThat(p).doesNotExist();
  }

  @Test
  void aRowWidthOffTheBlockIsRefused() {
    assertThatThrownBy(
            () -> new GgufWriter().addTensor("w", GgmlType.Q4_K, new long[] {172, 4}, out -> {}))
        .hasMessageContaining("w")
        .hasMessageContaining("172");
  }

  // ---- corrupt files: GgufFile must name what is wrong ----

  private Path smallModel() throws IOException {
    Path p = tmp.resolve("ok.gguf");
    new GgufWriter()
        .putString("general.architecture", "llama")
        .putUInt32("llama.block_count", 1)
        .addF32("a", new long[] {4}, new float[] {1, 2, 3, 4})
        .addTensor(
            "b",
            GgmlType.Q8_0,
            new long[] {32},
            out -> out.write(Quantizer.quantize(GgmlType.Q8_0, new float[32])))
        .write(p);
    return p;
  }

  /** Offset of the first occurrence of {@code needle} in {@code hay}. */
  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    throw new AssertionError("not found");
  }

  /** Offset just after tensor {@code name}'s name in the directory (its n_dims field). */
  private static int afterTensorName(byte[] file, String name) {
    byte[] rec =
        ByteBuffer.allocate(8 + name.length())
            .order(ByteOrder.LITTLE_ENDIAN)
            .putLong(name.length())
            .put(name.getBytes())
            .array();
    return indexOf(file, rec) + rec.length;
  }

  private Path corrupt(byte[] bytes) throws IOException {
    Path p = tmp.resolve("corrupt.gguf");
    Files.write(p, bytes);
    return p;
  }

  @Test
  void truncatedFilesAreRefused() throws IOException {
    byte[] ok = Files.readAllBytes(smallModel());
    int dataEnd;
    try (GgufFile f = GgufFile.open(smallModel())) {
      dataEnd = (int) (f.dataOffset() + 32 + f.tensor("b").data().byteSize()); // b sits after a
    }
    // cut inside the tensor data: names the tensor
    assertThatThrownBy(() -> GgufFile.open(corrupt(Arrays.copyOf(ok, dataEnd - 1))).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("tensor b")
        .hasMessageContaining("truncated");
    // cut inside the metadata: names the key
    int key = indexOf(ok, "llama.block_count".getBytes());
    assertThatThrownBy(() -> GgufFile.open(corrupt(Arrays.copyOf(ok, key + 18))).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("llama.block_count");
    assertThatThrownBy(() -> GgufFile.open(corrupt(new byte[0])).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("truncated");
  }

  @Test
  void badMagicAndVersionAreRefused() throws IOException {
    byte[] ok = Files.readAllBytes(smallModel());
    byte[] magic = ok.clone();
    magic[0] = 'X';
    assertThatThrownBy(() -> GgufFile.open(corrupt(magic)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("not a GGUF file");
    byte[] version = ok.clone();
    version[4] = 9;
    assertThatThrownBy(() -> GgufFile.open(corrupt(version)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("version 9");
  }

  @Test
  void unsupportedTensorTypeIsRefusedByName() throws IOException {
    byte[] bad = Files.readAllBytes(smallModel());
    int typeField = afterTensorName(bad, "b") + 4 + 8; // n_dims, one dim
    ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(typeField, 6); // Q5_0
    assertThatThrownBy(() -> GgufFile.open(corrupt(bad)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("tensor b")
        .hasMessageContaining("type id 6");
  }

  @Test
  void misalignedOffsetIsRefusedByName() throws IOException {
    byte[] bad = Files.readAllBytes(smallModel());
    int offsetField = afterTensorName(bad, "b") + 4 + 8 + 4;
    ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putLong(offsetField, 33);
    assertThatThrownBy(() -> GgufFile.open(corrupt(bad)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("tensor b")
        .hasMessageContaining("not aligned");
  }

  @Test
  void unknownMetadataValueTypeIsRefusedByKey() throws IOException {
    byte[] bad = Files.readAllBytes(smallModel());
    int typeField = indexOf(bad, "llama.block_count".getBytes()) + "llama.block_count".length();
    ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putInt(typeField, 13);
    assertThatThrownBy(() -> GgufFile.open(corrupt(bad)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("llama.block_count")
        .hasMessageContaining("type 13");
  }

  @Test
  void duplicateKeysAndTensorsAreRefused() throws IOException {
    Path p = tmp.resolve("dup.gguf");
    new GgufWriter()
        .addF32("same", new long[] {1}, new float[] {1})
        .addF32("samf", new long[] {1}, new float[] {2})
        .write(p);
    byte[] dupTensor = Files.readAllBytes(p);
    int second = afterTensorName(dupTensor, "samf") - 1;
    dupTensor[second] = 'e';
    assertThatThrownBy(() -> GgufFile.open(corrupt(dupTensor)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("same appears twice");

    Path q = tmp.resolve("dupkey.gguf");
    new GgufWriter().putUInt32("key.a", 1).putUInt32("key.b", 2).write(q);
    byte[] dk = Files.readAllBytes(q);
    dk[indexOf(dk, "key.b".getBytes()) + 4] = 'a';
    assertThatThrownBy(() -> GgufFile.open(corrupt(dk)).close())
        .isInstanceOf(GgufFormatException.class)
        .hasMessageContaining("key.a appears twice");
  }

  @Test
  void missingKeyAndTensorAreNamed() throws IOException {
    try (GgufFile f = GgufFile.open(smallModel())) {
      assertThatThrownBy(() -> f.require("llama.embedding_length", Long.class))
          .isInstanceOf(GgufFormatException.class)
          .hasMessageContaining("missing metadata key llama.embedding_length");
      assertThatThrownBy(() -> f.require("general.architecture", Long.class))
          .isInstanceOf(GgufFormatException.class)
          .hasMessageContaining("general.architecture is String");
      assertThatThrownBy(() -> f.tensor("output.weight"))
          .isInstanceOf(GgufFormatException.class)
          .hasMessageContaining("missing tensor output.weight");
    }
  }
}
