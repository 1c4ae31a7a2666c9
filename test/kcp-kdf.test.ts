import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cipherKey, cipherKeyLength, deriveKey, xorTable } from "../src/kcp/kdf.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

interface Pbkdf2File {
  vectors: {
    passphrase: string;
    passphrase_hex: string;
    derived_key_hex: string;
    cipher_key_hex: Record<string, string>;
  }[];
  xor_table: { passphrase: string; table_hex: string };
}

const file = JSON.parse(readFileSync(`${VECTORS_DIR}/pbkdf2.json`, "utf8")) as Pbkdf2File;
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("pbkdf2.json", () => {
  for (const v of file.vectors) {
    test(`passphrase ${JSON.stringify(v.passphrase)}`, () => {
      expect(toHex(new TextEncoder().encode(v.passphrase))).toBe(v.passphrase_hex);
      const dkey = deriveKey(v.passphrase);
      expect(toHex(dkey)).toBe(v.derived_key_hex);
      for (const [block, want] of Object.entries(v.cipher_key_hex)) {
        expect(toHex(cipherKey(block, dkey))).toBe(want);
        expect(cipherKeyLength(block)).toBe(want.length / 2);
      }
    });
  }

  test("xor table for passphrase 'secret'", () => {
    const t = file.xor_table;
    expect(t.table_hex.length).toBe(3000);
    expect(toHex(xorTable(cipherKey("xor", deriveKey(t.passphrase))))).toBe(t.table_hex);
  });

  test("a key too short for the cipher is refused", () => {
    expect(() => cipherKey("aes", new Uint8Array(16))).toThrow(expect.objectContaining({ code: "KCP_BAD_OPTION" }));
  });
});
