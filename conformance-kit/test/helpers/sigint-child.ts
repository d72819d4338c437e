// Child process for harness.int.test: creates a network, reports its namespaces, then waits to be
// signalled. The harness must remove everything on SIGINT/SIGTERM.
import { TestNetwork } from '../../src/harness/index.js';

const net = await TestNetwork.create({ hosts: ['x', 'y'] });
await net.host('x').udpEchoServer(7000); // a helper process too
process.stdout.write(JSON.stringify(net.namespaces) + '\n');
setInterval(() => undefined, 1000);
