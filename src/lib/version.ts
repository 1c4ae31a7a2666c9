/**
 * Build identity. `build.ts` replaces these through `--define`; from source they read the
 * environment or fall back to "dev"/"unknown".
 */
declare const PAQET_BUILD_VERSION: string | undefined;
declare const PAQET_BUILD_COMMIT: string | undefined;
declare const PAQET_BUILD_TAG: string | undefined;
declare const PAQET_BUILD_TIME: string | undefined;

export const VERSION: string =
  typeof PAQET_BUILD_VERSION === "string" ? PAQET_BUILD_VERSION : (process.env.PAQET_VERSION ?? "0.1.0-dev");
export const COMMIT: string =
  typeof PAQET_BUILD_COMMIT === "string" ? PAQET_BUILD_COMMIT : (process.env.PAQET_COMMIT ?? "unknown");
/** The exact git tag of the built commit, or "unknown" (as Go paqet's `Git Tag:`). */
export const GIT_TAG: string = typeof PAQET_BUILD_TAG === "string" ? PAQET_BUILD_TAG : "unknown";
/** `YYYY-MM-DD HH:MM:SS UTC` of a compiled build, or "unknown" from source. */
export const BUILD_TIME: string = typeof PAQET_BUILD_TIME === "string" ? PAQET_BUILD_TIME : "unknown";
