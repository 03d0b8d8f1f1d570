package dev.sluice.node.launch;

/**
 * A socket this node will listen on, described for the start-up port check and its error.
 *
 * @param what what listens there, e.g. {@code management (HTTP)}
 * @param setting the flag and key that choose the port, e.g. {@code --management-port /
 *     sluice.management.port}
 * @param host the address to bind
 * @param port the port; 0 means any free port and is never checked
 * @param udp whether it is a UDP socket (Aeron) rather than TCP
 */
public record Listener(String what, String setting, String host, int port, boolean udp) {}
