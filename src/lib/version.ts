/**
 * Build identity. `build.ts` replaces these through `--define`; from source they read the
 * environment or fall back to "dev".
 */
declare const PAQET_BUILD_VERSION: string | undefined;
declare const PAQET_BUILD_COMMIT: string | undefined;

export const VERSION: string =
  typeof PAQET_BUILD_VERSION === "string" ? PAQET_BUILD_VERSION : (process.env.PAQET_VERSION ?? "0.1.0-dev");
export const COMMIT: string =
  typeof PAQET_BUILD_COMMIT === "string" ? PAQET_BUILD_COMMIT : (process.env.PAQET_COMMIT ?? "unknown");
