import { defineCommand } from "citty";

/** 32 bytes from the CSPRNG as 64 lowercase hex characters, exactly as Go paqet prints them. */
export function newSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

export default defineCommand({
  meta: { name: "secret", description: "Generate a new secret key (64 hex characters) for transport.kcp.key" },
  run() {
    process.stdout.write(`${newSecret()}\n`);
    return 0;
  },
});
