/**
 * The contract between the kcp-go datagram pipeline (crypto, CRC, FEC: src/kcp/crypt, src/kcp/fec)
 * and the KCP session that drives the ARQ core. Both sides are written against this file.
 *
 * A codec turns each KCP output packet (one or more 24-byte-header segments, at most `kcpMtu` bytes)
 * into the datagrams kcp-go would put on the wire, and each received datagram back into KCP packets.
 * With FEC on, one encode may emit extra parity datagrams, and one decode may recover and deliver
 * earlier lost packets as well.
 */
export interface DatagramStats {
  /** Datagrams whose CRC or AEAD tag did not verify after decryption. */
  checksumFailures: number;
  /** Datagrams too short or malformed to be a kcp-go datagram for this configuration. */
  malformed: number;
  /** KCP packets rebuilt by FEC from parity. */
  fecRecovered: number;
  /** FEC shards that arrived too late or duplicated and were ignored. */
  fecDropped: number;
}

export interface DatagramCodec {
  /** Bytes of session MTU taken by crypto + FEC headers and the AEAD tag (kcp-smux-wire.md §1.2). */
  readonly overhead: number;
  /** KCP's MTU for a session MTU of `mtu` bytes: `mtu - overhead`. */
  kcpMtu(mtu: number): number;
  /**
   * Wraps one KCP output packet. `send` is called once per datagram, synchronously; the datagram
   * buffer may be reused after `send` returns.
   */
  encode(kcpPacket: Uint8Array, send: (datagram: Uint8Array) => void): void;
  /**
   * Unwraps one received datagram. `deliver` is called for each KCP packet it yields, synchronously
   * and in order; the buffer is only valid during the call. Returns false when the datagram was
   * dropped (and counted in `stats`).
   */
  decode(datagram: Uint8Array, deliver: (kcpPacket: Uint8Array) => void): boolean;
  readonly stats: DatagramStats;
}
