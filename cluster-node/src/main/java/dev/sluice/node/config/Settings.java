package dev.sluice.node.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed, validating reads of configuration values for the settings records. Every failure becomes a
 * {@link SettingsException} naming the key, whatever Typesafe Config would have thrown.
 */
public final class Settings {
  private Settings() {}

  public static String string(Config c, String key) {
    try {
      return c.getString(key).trim();
    } catch (ConfigException e) {
      throw refuse(key, e);
    }
  }

  public static int integer(Config c, String key, int min, int max) {
    int v;
    try {
      v = c.getInt(key);
    } catch (ConfigException e) {
      throw refuse(key, e);
    }
    if (v < min || v > max) {
      throw new SettingsException(key, v + " is out of range " + min + ".." + max);
    }
    return v;
  }

  public static int port(Config c, String key, boolean allowEphemeral) {
    return integer(c, key, allowEphemeral ? 0 : 1, 65535);
  }

  public static long bytes(Config c, String key, long min, long max) {
    long v;
    try {
      v = c.getBytes(key);
    } catch (ConfigException e) {
      throw refuse(key, e);
    }
    if (v < min || v > max) {
      throw new SettingsException(key, v + " bytes is out of range " + min + ".." + max);
    }
    return v;
  }

  public static Duration duration(Config c, String key, Duration min, Duration max) {
    Duration v;
    try {
      v = c.getDuration(key);
    } catch (ConfigException e) {
      throw refuse(key, e);
    }
    if (v.compareTo(min) < 0 || v.compareTo(max) > 0) {
      throw new SettingsException(key, v + " is out of range " + min + ".." + max);
    }
    return v;
  }

  /**
   * A list of strings that may also be given as one comma-separated string, which is what an
   * environment variable override ({@code ${?SLUICE_SEEDS}}) produces.
   */
  public static List<String> stringList(Config c, String key) {
    ConfigValue value;
    try {
      value = c.getValue(key);
    } catch (ConfigException e) {
      throw refuse(key, e);
    }
    List<String> out = new ArrayList<>();
    if (value.valueType() == ConfigValueType.LIST) {
      try {
        for (String s : c.getStringList(key)) {
          if (!s.isBlank()) {
            out.add(s.trim());
          }
        }
      } catch (ConfigException e) {
        throw refuse(key, e);
      }
    } else if (value.valueType() == ConfigValueType.STRING) {
      for (String s : c.getString(key).split(",")) {
        if (!s.isBlank()) {
          out.add(s.trim());
        }
      }
    } else {
      throw new SettingsException(
          key, "expected a list or a comma-separated string, found " + value.valueType());
    }
    return List.copyOf(out);
  }

  private static SettingsException refuse(String key, ConfigException e) {
    String origin = e.origin() == null ? "" : " (" + e.origin().description() + ")";
    if (e instanceof ConfigException.Missing) {
      return new SettingsException(key, "missing" + origin, e);
    }
    if (e instanceof ConfigException.WrongType || e instanceof ConfigException.BadValue) {
      return new SettingsException(key, "bad value: " + e.getMessage(), e);
    }
    return new SettingsException(key, e.getMessage(), e);
  }
}
