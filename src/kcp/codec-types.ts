/**
 * The contract between the kcp-go datagram pipeline (src/kcp/crypt*, src/kcp/fec*) and the KCP
 * session/listener that drive the ARQ core. Both sides are written against this file.
 *
 * kcp-go splits the pipeline in two, and so do we, because the listener must decrypt a datagram
 * before it can read the conv that picks the session, while FEC state belongs to each session:
 *
 *   send:    KCP packet --FecEncoder--> inner packet(s) --PacketCrypt.seal--> datagram(s)
 *   receive: datagram --PacketCrypt.open--> inner packet --FecDecoder--> KCP packet(s)
 *
 * With FEC off the inner packet is the KCP packet itself.
 */
export interface CryptStats {
  /** Datagrams whose CRC or AEAD tag did not verify after decryption. */
  checksumFailures: number;
  /** Datagrams too short to hold the crypto header. */
  malformed: number;
}

/** One cipher configuration (paqet `transport.kcp.block` + key); shared by every session of a listener. */
export interface PacketCrypt {
  /** Bytes of session MTU it takes: 0 null, 20 CFB-family/salsa20/xor/none, 12+16 aes-128-gcm. */
  readonly overhead: number;
  /**
   * Encrypts one inner packet into a datagram. The returned view may be a reused buffer that is
   * valid only until the next `seal` call.
   */
  seal(inner: Uint8Array): Uint8Array;
  /**
   * Optional batch sealing, offered where sealing several datagrams together is cheaper (AES-CFB
   * on libcrypto). `stage` copies `inner` in and promises `emit(datagram)` for it, in staging
   * order, no later than `flushStaged()` or the end of the current turn, whichever comes first;
   * datagrams staged with different `emit` functions never mix (a new one flushes the batch).
   * Each emitted view is valid only during its `emit` call.
   */
  stage?(inner: Uint8Array, emit: (datagram: Uint8Array) => void): void;
  /** Seals and emits everything staged, now. */
  flushStaged?(): void;
  /**
   * Decrypts and verifies one datagram. Returns the inner packet (a view valid until the next
   * `open` call), or undefined when the datagram is dropped (counted in `stats`). Never throws.
   */
  open(datagram: Uint8Array): Uint8Array | undefined;
  readonly stats: CryptStats;
}

export interface FecStats {
  /** KCP packets rebuilt from parity. */
  recovered: number;
  /** Shards ignored: malformed, duplicated, too old or of an unknown type. */
  dropped: number;
  parityShardsSent: number;
}

/** Per-session FEC state (kcp-smux-wire.md §4). Pass-through when shards are 0. */
export interface FecCodec {
  /** Bytes of session MTU it takes: 8 with FEC on, 0 off. */
  readonly overhead: number;
  /**
   * Wraps one KCP packet; calls `emit` for the data shard and then for any parity shards now due.
   * Each view is valid only during its `emit` call (seal it, or copy it).
   */
  encode(kcpPacket: Uint8Array, emit: (inner: Uint8Array) => void): void;
  /**
   * Unwraps one inner packet; calls `deliver` for it and for any packet recovered from parity.
   * `regular` is false for recovered packets: kcp-go feeds those to Input as IKCP_PACKET_FEC, so
   * they must not update the remote window or the RTT (kcp-smux-wire.md §4.5). The view is valid
   * only during the call.
   */
  decode(inner: Uint8Array, deliver: (kcpPacket: Uint8Array, regular: boolean) => void): void;
  readonly stats: FecStats;
}
