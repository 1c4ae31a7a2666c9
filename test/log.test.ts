import { describe, expect, test } from "bun:test";
import { formatLogLine, setLogLevel, logLevelEnabled } from "../src/lib/log.ts";

describe("log", () => {
  test("a line is the time, the level, the tag and the formatted arguments", () => {
    const date = new Date(2026, 10, 27, 9, 5, 7, 42);
    const line = formatLogLine({ date, type: "info", tag: "server", args: ["accepted %s from %d", "x", 3, { a: 1 }] });
    expect(line).toBe("2026-11-27 09:05:07.042 [INFO] [server] accepted x from 3 { a: 1 }\n");
  });

  test("errors print their message, and an untagged line has no tag", () => {
    const date = new Date(2026, 0, 2, 3, 4, 5, 6);
    expect(formatLogLine({ date, type: "warn", tag: "", args: [new Error("boom")] })).toBe(
      "2026-01-02 03:04:05.006 [WARN] boom\n",
    );
    expect(formatLogLine({ date, type: "debug", tag: "kcp", args: ["x"] })).toContain("[DEBUG] [kcp] x");
  });

  test("the level from the config gates what is printed", () => {
    setLogLevel("warn");
    expect(logLevelEnabled("warn")).toBe(true);
    expect(logLevelEnabled("info")).toBe(false);
    setLogLevel("debug");
    expect(logLevelEnabled("debug")).toBe(true);
    setLogLevel("info");
  });
});
