#!/usr/bin/env node
// The CLI is compiled to lib/ by `npm ci` (the prepare script); this file only hands over.
import { main } from '../lib/cli.js';

process.exitCode = await main(process.argv.slice(2));
