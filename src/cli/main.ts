import { runMain } from "citty";
import { main } from "./index.ts";

export async function runCli(argv: string[]): Promise<void> {
  await runMain(main, { rawArgs: argv });
}
