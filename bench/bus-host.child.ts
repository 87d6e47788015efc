/** A process that only hosts the bus broker (for the bus benchmark): elect, say `ready`, serve until killed. */
import { ensureBroker } from "../src/bus/index.js";

await ensureBroker(process.argv[2]!);
process.stdout.write("ready\n");
setInterval(() => undefined, 1 << 30);
