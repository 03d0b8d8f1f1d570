package dev.sluice.node.serialization;

import com.typesafe.config.Config;
import dev.sluice.node.config.Settings;
import dev.sluice.node.config.SettingsException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * The {@code sluice.serialization.kryo} section: the registered message classes and the largest
 * serialized message. Each module appends its own network messages in its {@code reference.conf}:
 *
 * <pre>{@code
 * sluice.serialization.kryo.classes += "dev.sluice.worker.GpuWorker$Generate"
 * }</pre>
 *
 * <p>Every class gets a registration id derived from its name ({@link #idFor(String)}), not from
 * its position in the list, because the list is assembled from several {@code reference.conf} files
 * in classpath order, which differs between the seed and the worker jars. Two classes whose ids
 * collide are refused at start-up.
 *
 * @param classes the registered classes, loaded
 * @param ids the registration id of each class, same order as {@code classes}
 * @param maxMessageBytes largest serialized message; larger ones fail (Artery frames are small)
 */
public record KryoSettings(List<Class<?>> classes, List<Integer> ids, int maxMessageBytes) {
  public static final String CLASSES_KEY = "sluice.serialization.kryo.classes";
  public static final String MAX_SIZE_KEY = "sluice.serialization.kryo.max-message-size";

  /** Ids below this are Kryo's own and the fixed built-in registrations. */
  static final int FIRST_HASHED_ID = 1024;

  private static final int HASHED_ID_SPAN = 1 << 27;

  public KryoSettings {
    classes = List.copyOf(classes);
    ids = List.copyOf(ids);
  }

  /**
   * Reads and validates the section, loading every listed class with {@code loader}.
   *
   * @throws SettingsException naming the key for a missing class or an id collision
   */
  public static KryoSettings fromConfig(Config c, ClassLoader loader) {
    List<String> names = new ArrayList<>(new LinkedHashSet<>(Settings.stringList(c, CLASSES_KEY)));
    List<Class<?>> classes = new ArrayList<>();
    List<Integer> ids = new ArrayList<>();
    Map<Integer, String> byId = new HashMap<>();
    for (String name : names) {
      Class<?> type;
      try {
        type = Class.forName(name, false, loader);
      } catch (ClassNotFoundException | LinkageError e) {
        throw new SettingsException(CLASSES_KEY, "class " + name + " not found on the classpath");
      }
      if (type.isInterface() || java.lang.reflect.Modifier.isAbstract(type.getModifiers())) {
        throw new SettingsException(
            CLASSES_KEY, name + " is abstract; list the concrete message classes instead");
      }
      int id = idFor(name);
      String other = byId.putIfAbsent(id, name);
      if (other != null) {
        throw new SettingsException(
            CLASSES_KEY, name + " and " + other + " hash to the same registration id " + id);
      }
      classes.add(type);
      ids.add(id);
    }
    long max = Settings.bytes(c, MAX_SIZE_KEY, 1024, 64L * 1024 * 1024);
    return new KryoSettings(classes, ids, (int) max);
  }

  /** The registration id of a class name: FNV-1a over its UTF-8 bytes, folded into a range. */
  public static int idFor(String className) {
    int h = 0x811c9dc5;
    for (byte b : className.getBytes(StandardCharsets.UTF_8)) {
      h ^= b & 0xff;
      h *= 0x01000193;
    }
    return FIRST_HASHED_ID + Integer.remainderUnsigned(h, HASHED_ID_SPAN);
  }
}
