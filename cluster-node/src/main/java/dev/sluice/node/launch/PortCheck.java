package dev.sluice.node.launch;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Binds every port the node will use, then releases it, before the actor system starts: a port in
 * use then stops the node with one message naming the flag, instead of a half-started cluster
 * member with a stack trace. (A port taken in the instant between the check and the real bind still
 * fails, later and louder.)
 */
public final class PortCheck {
  private PortCheck() {}

  /**
   * @throws StartupException naming the setting of the first listener that cannot bind
   */
  public static void requireFree(List<Listener> listeners) {
    Set<String> seen = new HashSet<>();
    for (Listener l : listeners) {
      if (l.port() == 0) {
        continue;
      }
      String id = (l.udp() ? "udp:" : "tcp:") + l.port();
      if (!seen.add(id)) {
        throw new StartupException(
            l.setting() + ": port " + l.port() + " is given to two listeners (" + l.what() + ")");
      }
      InetAddress address;
      try {
        address = InetAddress.getByName(l.host());
      } catch (UnknownHostException e) {
        throw new StartupException(l.setting() + ": cannot resolve host '" + l.host() + "'", e);
      }
      try {
        if (l.udp()) {
          try (DatagramSocket s = new DatagramSocket(null)) {
            s.bind(new InetSocketAddress(address, l.port()));
          }
        } else {
          try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(address, l.port()));
          }
        }
      } catch (IOException e) {
        String where = l.host() + ":" + l.port() + (l.udp() ? "/udp" : "");
        String problem =
            e instanceof java.net.BindException && String.valueOf(e.getMessage()).contains("in use")
                ? "port " + where + " is already in use"
                : "cannot listen on " + where + " (" + e.getMessage() + ")";
        throw new StartupException(
            l.setting() + ": " + problem + " (wanted for " + l.what() + ")", e);
      }
    }
  }
}
