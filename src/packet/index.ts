/**
 * Pure packet codecs: Ethernet II, IPv4, IPv6, TCP (with options), the internet checksum, address
 * text and the classic pcap file format. Everything works on Uint8Array with big-endian fields at
 * named offsets; checked parsers throw only PacketError and never read out of bounds.
 */
export * from "./address.ts";
export * from "./checksum.ts";
export * from "./errors.ts";
export * from "./ethernet.ts";
export * from "./ipv4.ts";
export * from "./ipv6.ts";
export * from "./pcapfile.ts";
export * from "./tcp.ts";
