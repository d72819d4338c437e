#!/usr/bin/env node
/** The `create-plugin` bin, run by `npm create @rustynet/plugin`: see {@link createPluginMain}. */
import { createPluginMain } from '../index.js';

process.exitCode = await createPluginMain(process.argv.slice(2));
