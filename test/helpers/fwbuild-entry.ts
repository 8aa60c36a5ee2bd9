// Same as bin/fwbuild.js, but from the TypeScript sources so tests need no prior compile.
import { main } from '../../builder/cli.js';

process.exitCode = await main(process.argv.slice(2));
